"""The silences' config: secrets from `<key>_file` or the environment (the file wins), kept for
redaction, never echoed; `config check` names what cannot work."""
from __future__ import annotations

import pytest

from watcher.config import ConfigError, notifier_defaults, parse_config

TOKEN, LINK = "kea-api-7f3c1b9e5d2a4c68", "link-secret-5e8d2c7a9b1f4036"


def problems(text: str, env: dict | None = None) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_config(text, "c.yaml", env or {})
    return [str(p) for p in err.value.problems]


def test_secrets_from_the_environment_are_used_and_remembered() -> None:
    cfg = parse_config("routing: {external_url: 'https://kea.example.com'}\n", "c.yaml",
                       {"KEA_API_TOKEN": TOKEN, "KEA_SILENCE_LINK_SECRET": LINK})
    assert (cfg.api.token, cfg.routing.silence_link_secret) == (TOKEN, LINK)
    assert {TOKEN, LINK} <= cfg.secrets
    linker = notifier_defaults(cfg).silence_link
    assert linker is not None and LINK not in repr(linker)


def test_the_file_wins_over_the_environment(tmp_path) -> None:
    (tmp_path / "token").write_text(TOKEN + "\n")
    cfg = parse_config(f"api: {{token_file: {tmp_path / 'token'}}}\n", "c.yaml", {"KEA_API_TOKEN": "x" * 20})
    assert cfg.api.token == TOKEN and TOKEN in cfg.secrets


def test_without_url_or_secret_there_is_no_link() -> None:
    assert notifier_defaults(parse_config("", "c.yaml", {})).silence_link is None
    cfg = parse_config("routing: {external_url: 'https://kea.example.com'}\n", "c.yaml", {})
    assert notifier_defaults(cfg).silence_link is None


@pytest.mark.parametrize(("text", "env", "expected"), [
    ("routing: {external_url: 'kea.example.com'}\n", {}, "c.yaml:1: routing.external_url: expected the daemon's base URL"),
    ("routing: {external_url: 'https://k/?a=1'}\n", {}, "routing.external_url: expected"),
    ("", {"KEA_SILENCE_LINK_SECRET": LINK}, "routing.silence_link_secret: the silence link needs routing.external_url"),
    ("", {"KEA_API_TOKEN": "abc123"}, "api.token: too short to be safe"),
    ("api: {token: abc123}\n", {}, "c.yaml:1: api.token: too short to be safe"),
    ("metrics: {enabled: false}\n", {"KEA_API_TOKEN": TOKEN}, "metrics.enabled: the silences API and link"),
    ("silences: {refresh_interval: soon}\n", {}, "silences.refresh_interval: expected a duration"),
])
def test_config_check_names_the_problem(text, env, expected) -> None:
    found = problems(text, env)
    assert any(expected in p for p in found), found
    assert not any("abc123" in p for p in found)  # a secret is never echoed
