"""Build the `elasticsearch.Elasticsearch` client from `watcher.config.Elasticsearch`.

Production clusters sit behind TLS with API keys or basic auth; secrets come from the config
loader (`${ENV}` or `<key>_file`), are handed to the client once and never formatted: the client
keeps them in headers whose repr is `<hidden>`, and `describe()` gives a loggable summary without
them. TLS verification stays on unless the config turns it off. Sniffing is off by default:
behind a load balancer or in Kubernetes the addresses nodes publish are often unreachable.
"""
from __future__ import annotations

import logging
import os
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from elasticsearch import Elasticsearch
from elasticsearch.serializer import JsonSerializer

log = logging.getLogger("kea.es")

try:  # orjson is a dependency of the daemon; the client's serializer for it is ~3x faster
    from elasticsearch.serializer import OrjsonSerializer as _Serializer
except ImportError:  # pragma: no cover - older clients
    _Serializer = JsonSerializer  # type: ignore[misc,assignment]


class EsConfigError(ValueError):
    """A connection setting that cannot work; the message never holds a secret."""


def redact_url(url: str) -> str:
    """`https://user:pw@host:9200` → `https://***@host:9200`."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, f"***@{host}", parts.path, parts.query, parts.fragment))


def describe(cfg: Any) -> str:
    """A one-line summary for logs: hosts, auth kind, TLS settings; no secrets."""
    auth = "api_key" if cfg.api_key else f"basic(user={cfg.username})" if cfg.username else "none"
    tls = f"verify={cfg.verify_certs}" + (f" ca={cfg.ca_certs}" if cfg.ca_certs else "")
    return (f"hosts={[redact_url(h) for h in cfg.hosts]} auth={auth} {tls} "
            f"timeout={cfg.request_timeout.total_seconds():g}s sniff_on_start={cfg.sniff_on_start}")


def client_kwargs(cfg: Any) -> dict[str, Any]:
    """The keyword arguments for `Elasticsearch(...)` (separate so tests can check them)."""
    hosts = [h.strip() for h in cfg.hosts if h and h.strip()]
    if not hosts:
        raise EsConfigError("elasticsearch.hosts: at least one node URL is needed")
    schemes = {urlsplit(h).scheme for h in hosts}
    if not schemes <= {"http", "https"}:
        raise EsConfigError(f"elasticsearch.hosts: URLs must start with http:// or https:// "
                            f"(got {sorted(redact_url(h) for h in hosts)})")
    kwargs: dict[str, Any] = {
        "hosts": hosts,
        "request_timeout": cfg.request_timeout.total_seconds(),
        "max_retries": 3,
        "retry_on_timeout": True,
        "sniff_on_start": cfg.sniff_on_start,
        # sniffing on failure would replace the configured hosts with the addresses the nodes
        # publish, which is wrong behind a load balancer for the same reason
        "sniff_on_node_failure": False,
        "serializer": _Serializer(),
    }
    if cfg.api_key:
        if cfg.username:
            log.warning("elasticsearch: both api_key and username are set; using the API key")
        kwargs["api_key"] = cfg.api_key
    elif cfg.username:
        kwargs["basic_auth"] = (cfg.username, cfg.password)
    elif cfg.password:
        raise EsConfigError("elasticsearch.password is set but elasticsearch.username is empty")
    if "https" in schemes:
        if schemes != {"https"}:
            # the client applies TLS options to every node and refuses them for http:// ones
            raise EsConfigError("elasticsearch.hosts: mix of http:// and https:// URLs; use one scheme")
        kwargs["verify_certs"] = cfg.verify_certs
        if cfg.ca_certs:
            if not os.path.isfile(cfg.ca_certs):
                raise EsConfigError(f"elasticsearch.ca_certs: no such file {cfg.ca_certs}")
            kwargs["ca_certs"] = cfg.ca_certs
        if not cfg.verify_certs:
            log.warning("elasticsearch: TLS certificate verification is OFF (verify_certs: false)")
    elif cfg.ca_certs:
        log.warning("elasticsearch.ca_certs is set but every host is http://; it is not used")
    return kwargs


def build_client(cfg: Any, **overrides: Any) -> Elasticsearch:
    """The client for `cfg` (a `watcher.config.Elasticsearch`); `overrides` win over the
    derived keyword arguments. Raises `EsConfigError` for settings that cannot work."""
    kwargs = client_kwargs(cfg)
    kwargs.update(overrides)
    log.info("elasticsearch client: %s", describe(cfg))
    return Elasticsearch(**kwargs)
