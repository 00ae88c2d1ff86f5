from datetime import timedelta
from pathlib import Path

import pytest

from watcher.config import ConfigError, parse_config

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.yaml"


def errors(text: str, env: dict | None = None) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_config(text, "c.yaml", env or {})
    return [str(p) for p in err.value.problems]


def test_example_config_is_valid_and_documents_every_key(tmp_path):
    (tmp_path / "url").write_text("https://dingtalk.example.invalid/robot/send?access_token=t0k3n\n")
    (tmp_path / "secret").write_text("SEC0123456789abcdef\n")
    text = EXAMPLE.read_text().replace("/etc/kube-event-alerter/dingtalk/", f"{tmp_path}/")
    cfg = parse_config(text, "example.yaml", {"WECOM_WEBHOOK_URL": "https://example.invalid/send?key=k"})
    assert cfg.cluster == "prod-bj-1" and cfg.kubernetes.watch_timeout == timedelta(minutes=5)
    assert {"SEC0123456789abcdef", "https://example.invalid/send?key=k"} <= cfg.secrets
    import dataclasses

    from watcher.config import Config

    import typing

    seen = []

    def walk(cls, prefix=""):
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.metadata.get("internal"):
                continue
            assert f"{f.name}:" in text or f"{f.name}_file:" in text, f"{prefix}{f.name} is not in config.example.yaml"
            seen.append(prefix + f.name)
            if dataclasses.is_dataclass(hints[f.name]):
                walk(hints[f.name], prefix + f.name + ".")

    walk(Config)
    assert "kubernetes.leader_election.lease_duration" in seen and "elasticsearch.bulk.flush_interval" in seen


def test_unknown_keys_and_bad_types_name_line_and_path():
    found = errors("cluster: a\nkubernetes:\n  namespces: [x]\n  pods: maybe\nmetrics:\n  port: -1\n")
    assert found[0].startswith("c.yaml:3: kubernetes.namespces: unknown key (did you mean `namespaces`?)")
    assert found[1] == "c.yaml:4: kubernetes.pods: expected true or false, got a string 'maybe'"
    assert found[2].startswith("c.yaml:6: metrics.port: expected a whole number")


def test_env_expansion_and_missing_variable():
    cfg = parse_config("cluster: ${CLUSTER}\nlogging: {level: '${LVL:-DEBUG}'}\n", "c.yaml", {"CLUSTER": "bj"})
    assert (cfg.cluster, cfg.logging.level) == ("bj", "DEBUG")
    assert errors("cluster: ${NOPE}\n") == [
        "c.yaml:1: cluster: environment variable NOPE is not set (write ${NOPE:-default} for a default)"]


def test_secret_files_are_read_and_remembered_for_redaction(tmp_path):
    (tmp_path / "pw").write_text("s3cret-pw\n")
    (tmp_path / "url").write_text("https://qyapi.example/send?key=abc123\n")
    cfg = parse_config(
        f"elasticsearch:\n  password_file: {tmp_path/'pw'}\nnotifiers:\n  ops:\n    type: wecom\n    url_file: {tmp_path/'url'}\n",
        "c.yaml", {})
    assert cfg.elasticsearch.password == "s3cret-pw"
    assert cfg.notifiers["ops"]["url"] == "https://qyapi.example/send?key=abc123"
    assert {"s3cret-pw", "https://qyapi.example/send?key=abc123"} <= cfg.secrets


def test_unreadable_secret_file_is_an_error_without_the_secret():
    found = errors("elasticsearch:\n  api_key_file: /nonexistent/key\n")
    assert found == ["c.yaml:2: elasticsearch.api_key_file: cannot read secret file: No such file or directory"]


def test_cross_field_checks():
    found = errors("kubernetes:\n  watch_timeout: 10m\n  request_timeout: 5m\nrouting:\n  default: [ops]\ntimezone: Mars/Base\n")
    assert any("kubernetes.request_timeout: must be longer than watch_timeout" in p for p in found)
    assert any("routing.default.0: no notifier named `ops`" in p for p in found)
    assert any(p.startswith("c.yaml:6: timezone: unknown time zone") for p in found)


def test_invalid_yaml_and_duplicate_keys():
    assert errors("a: [1\n")[0].startswith("c.yaml:")
    assert errors("cluster: a\ncluster: b\n") == ["c.yaml:2: duplicate key `cluster`"]


def test_bad_cron_is_named():
    found = errors("scheduler:\n  digest: {enabled: true, cron: '61 9 * * *'}\n")
    assert len(found) == 1 and found[0].startswith("c.yaml:2: scheduler.digest.cron: invalid crontab expression '61 9 * * *'")


def test_notifier_settings_are_validated_with_their_key_path():
    found = errors("notifiers:\n  ops:\n    type: wecom\n    url: https://x.invalid/send?key=k\n    msgtype: card\n")
    assert len(found) == 1 and found[0].startswith("c.yaml:5: notifiers.ops.msgtype:")
    found = errors("notifiers:\n  ops:\n    type: carrier-pigeon\n    url: https://x.invalid\n")
    assert found[0].startswith("c.yaml:3: notifiers.ops.type: expected one of wecom, dingtalk, feishu, webhook")


def test_a_mistyped_secret_is_not_echoed():
    found = errors("elasticsearch:\n  password: [hunter2-secret]\n")
    assert found == ["c.yaml:2: elasticsearch.password: expected a string, got a list"]


def test_hostile_yaml_in_the_config_is_a_config_error():
    assert errors("cluster: x\nrouting: &r\n  default: [*r]\n") == ["c.yaml:3: recursive YAML alias: a node that contains itself"]
    assert errors("cluster: " + "[" * 3000 + "]" * 3000 + "\n")[0].startswith("c.yaml:1: YAML nested deeper than")
    bomb = 'l0: &l0 "lol"\n' + "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 10))
    assert "YAML aliases expand to more than" in errors(bomb)[0]


def test_a_notifier_template_that_crashes_the_template_parser_is_a_config_error():
    deep = "{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}"
    found = errors(f"notifiers:\n  ops:\n    type: webhook\n    url: https://x.invalid/hook-s3cr3t\n    template: '{deep}'\n")
    assert found == ["c.yaml:2: notifiers.ops: cannot be built (RecursionError)"]
