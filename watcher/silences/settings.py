"""The silences' settings that the config's types alone do not carry: secrets a Kubernetes
Deployment gives as environment variables, and the checks `config check` reports."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, MutableSet
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from watcher.config import Config
    from watcher.config_checks import Reporter

#: Secrets that may come from the environment instead of the file (the file, or `<key>_file`, wins).
SECRET_ENV = {"KEA_API_TOKEN": ("api", "token"), "KEA_SILENCE_LINK_SECRET": ("routing", "silence_link_secret")}
MIN_SECRET_LENGTH = 16
"""An API token or link key shorter than this is guessable; `config check` refuses it."""


def secrets_from_env(cfg: "Config", secrets: MutableSet[str], env: Mapping[str, str]) -> None:
    for name, (section, key) in SECRET_ENV.items():
        value = env.get(name, "").strip()
        holder = getattr(cfg, section)
        if value and not getattr(holder, key):
            setattr(holder, key, value)
            secrets.add(value)


def check_silences(cfg: "Config", b: "Reporter") -> None:
    """The API token and the link: long enough, and somewhere to be served."""
    url, link_secret, token = cfg.routing.external_url, cfg.routing.silence_link_secret, cfg.api.token
    if url and not _base_url(url):
        b.fail(("routing", "external_url"), "expected the daemon's base URL like https://kea.example.com "
                                            "(http or https, no query)")
    if link_secret and not url:
        b.fail(("routing", "silence_link_secret"), "the silence link needs routing.external_url (where people "
                                                   "reach this daemon's metrics port)")
    _long_enough(b, ("routing", "silence_link_secret"), link_secret, "KEA_SILENCE_LINK_SECRET")
    _long_enough(b, ("api", "token"), token, "KEA_API_TOKEN")
    if (token or link_secret) and not cfg.metrics.enabled:
        b.fail(("metrics", "enabled"), "the silences API and link are served on the metrics port: enable it")


def _long_enough(b: "Reporter", path: tuple[str, str], value: str, env: str) -> None:
    if value and len(value) < MIN_SECRET_LENGTH:  # never echo the value
        b.fail(path, f"too short to be safe: use at least {MIN_SECRET_LENGTH} characters (from the file, "
                     f"`{path[-1]}_file` or env {env})")


def _base_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not parts.query and not parts.fragment


def silence_linker(cfg: "Config") -> Any:
    """The card's 静默 1 小时 link maker, when `routing.external_url` and the link secret are set."""
    url, secret = cfg.routing.external_url, cfg.routing.silence_link_secret
    if not (url and secret):
        return None
    from notifiers.clock import utcnow
    from notifiers.silencelink import SilenceLinker

    return SilenceLinker(url, secret, clock=utcnow)
