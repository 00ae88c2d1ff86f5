"""Plain JSON access to the apiserver for tests and benchmarks.

Helpers take an ``ApiClient`` (or a typed API such as ``CoreV1Api``) only for its
connection settings and talk plain JSON over urllib3: bodies are dicts, results
are dicts, errors are ``kubernetes.client.ApiException``. That keeps them
independent of the generated client's models, which change between releases.
"""

from __future__ import annotations

import datetime as _dt
import json
import ssl
import urllib.parse
from typing import Any

import urllib3

FIELD_MANAGER = "kea-tests"

_pools: dict[tuple, urllib3.PoolManager] = {}


def connection(api) -> tuple[str, urllib3.PoolManager, dict]:
    """(host, urllib3 pool, auth headers) from an ApiClient's or typed API's configuration,
    for raw calls such as streaming a watch."""
    cfg = getattr(api, "api_client", api).configuration
    key = (cfg.ssl_ca_cert, cfg.verify_ssl, cfg.cert_file, cfg.key_file)
    if key not in _pools:
        kw: dict[str, Any] = {"cert_file": cfg.cert_file, "key_file": cfg.key_file}
        if cfg.verify_ssl:
            kw.update(cert_reqs=ssl.CERT_REQUIRED, ca_certs=cfg.ssl_ca_cert)
        else:
            kw.update(cert_reqs=ssl.CERT_NONE, assert_hostname=False)
        _pools[key] = urllib3.PoolManager(retries=False, **kw)
    headers = {s["key"]: s["value"] for s in cfg.auth_settings().values() if s["in"] == "header"}
    return cfg.host.rstrip("/"), _pools[key], headers


def request(api, method: str, path: str, body: Any = None, *, query: dict | None = None,
            content_type: str = "application/json", timeout: float = 30.0) -> dict:
    """One API call; returns the decoded JSON, raises ``ApiException`` unless 2xx."""
    from kubernetes.client import ApiException

    host, http, headers = connection(api)
    url = host + path + ("?" + urllib.parse.urlencode(query) if query else "")
    headers = {**headers, "Accept": "application/json"}
    data = None
    if body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), content_type
    r = http.request(method, url, body=data, headers=headers, timeout=timeout)
    if not 200 <= r.status < 300:
        raise ApiException(http_resp=r)
    return json.loads(r.data) if r.data else {}


def apply_object(api, path: str, body: dict) -> dict:
    """Server-side apply: create or update in one call (JSON is valid YAML)."""
    return request(api, "PATCH", path, body, content_type="application/apply-patch+yaml",
                   query={"fieldManager": FIELD_MANAGER, "force": "true"})


def now() -> str:
    """A timestamp as the API serializes metav1.Time (RFC 3339, seconds)."""
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
