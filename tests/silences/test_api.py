"""The silences HTTP API on the daemon's status server (the real `StatusServer`, on a free
port, over a file store): the token, every route, the errors naming the field, and the token
never in a log line."""
from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from typing import Any, Iterator

import pytest
from prometheus_client import CollectorRegistry

from tests.silences.helpers import HOUR, NOW, Clock
from watcher.health import Health, StatusServer
from watcher.silences.api import SilencesApi
from watcher.silences.filestore import FileSilenceStore

TOKEN = "kea-api-7f3c1b9e5d2a4c68"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path, clock) -> FileSilenceStore:
    return FileSilenceStore(tmp_path, clock=clock)


def serve(store: FileSilenceStore, clock: Clock, token: str = TOKEN) -> StatusServer:
    server = StatusServer("127.0.0.1", 0, health=Health(), registry=CollectorRegistry(),
                          apps=[SilencesApi(store, token=token, clock=clock)])
    server.start()
    return server


@pytest.fixture
def url(store, clock) -> Iterator[str]:
    server = serve(store, clock)
    yield f"http://127.0.0.1:{server.port}"
    server.stop()


def call(method: str, url: str, body: Any = None, *, token: str | None = TOKEN, raw: bytes | None = None
         ) -> tuple[int, dict[str, Any], dict[str, str]]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method)
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read()), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}"), dict(e.headers)


ADD = {"matchers": ["namespace=shop", "rule=oom-killed"], "duration": "2h", "created_by": "li",
       "comment": "扩容中"}


def test_add_list_expire(url, store, clock) -> None:
    status, body, _ = call("POST", f"{url}/api/v1/silences", ADD)
    assert status == 201 and body["silence"]["state"] == "active"
    sid = body["id"]
    (stored,) = store.list()
    assert (stored.id, stored.ends_at, stored.comment) == (sid, NOW + 2 * HOUR, "扩容中")
    assert [str(m) for m in stored.matchers] == ['namespace="shop"', 'rule="oom-killed"']
    status, body, _ = call("GET", f"{url}/api/v1/silences")
    assert status == 200 and [s["id"] for s in body["silences"]] == [sid]
    status, body, _ = call("DELETE", f"{url}/api/v1/silences/{sid}")
    assert status == 200 and body["silence"]["state"] == "expired"
    assert call("GET", f"{url}/api/v1/silences")[1] == {"silences": []}
    listed = call("GET", f"{url}/api/v1/silences?expired=true")[1]["silences"]
    assert [(s["id"], s["state"]) for s in listed] == [(sid, "expired")]


def test_starts_at_and_ends_at(url, store) -> None:
    body = {**ADD, "starts_at": "2026-12-01T12:00:00+08:00", "ends_at": "2026-12-01T13:00:00+08:00"}
    del body["duration"]
    status, answer, _ = call("POST", f"{url}/api/v1/silences", body)
    assert status == 201 and answer["silence"]["state"] == "pending"
    assert store.list()[0].starts_at == NOW + HOUR


@pytest.mark.parametrize(("change", "field", "message"), [
    ({"matchers": []}, "matchers", "non-empty list"),
    ({"matchers": ["namespace=shop", "namspace=x"]}, "matchers[1]", "did you mean `namespace`"),
    ({"matchers": [7]}, "matchers[0]", "expected a string"),
    ({"duration": "2 hours"}, "duration", "expected a duration"),
    ({"duration": "0s"}, "duration", "longer than 0s"),
    ({"duration": "100d"}, "duration", "at most 90 days"),
    ({"ends_at": "2026-12-01T05:00:00+00:00"}, "ends_at", "either `ends_at`"),
    ({"duration": None, "ends_at": "tomorrow"}, "ends_at", "ISO 8601"),
    ({"duration": None, "ends_at": "2026-12-01T02:00:00+00:00"}, "ends_at", "must be after starts_at"),
    ({"starts_at": "2026-12-01T03:00:00"}, "starts_at", "with a zone"),
    ({"created_by": ""}, "created_by", "non-empty string"),
    ({"comment": None}, "comment", "non-empty string"),
    ({"author": "li"}, "author", "unknown field"),
])
def test_bad_fields_are_named(url, store, change, field, message) -> None:
    body = {k: v for k, v in {**ADD, **change}.items() if v is not None}
    status, answer, _ = call("POST", f"{url}/api/v1/silences", body)
    assert (status, answer["field"]) == (400, field) and message in answer["error"]
    assert store.list() == []


@pytest.mark.parametrize("raw", [b"not json", b"[1]", b"\xff"])
def test_a_body_that_is_no_json_object(url, raw) -> None:
    status, answer, _ = call("POST", f"{url}/api/v1/silences", raw=raw)
    assert (status, answer["field"]) == (400, "(body)")


@pytest.mark.parametrize(("token", "status"), [(None, 401), ("", 401), ("wrong-token-0000000", 401),
                                               (TOKEN + "x", 401), (TOKEN.upper(), 401)])
def test_wrong_or_missing_token_is_401_for_reads_and_writes(url, store, token, status) -> None:
    got = [call(m, f"{url}/api/v1/silences{p}", b, token=token)
           for m, p, b in (("GET", "", None), ("POST", "", ADD), ("DELETE", "/x", None))]
    assert [g[0] for g in got] == [status] * 3
    assert got[0][2]["WWW-Authenticate"].startswith("Bearer")
    assert store.list() == []


def test_without_a_configured_token_the_api_is_off(store, clock) -> None:
    server = serve(store, clock, token="")
    try:
        base = f"http://127.0.0.1:{server.port}/api/v1/silences"
        assert call("GET", base, token="")[0] == 403
        assert call("POST", base, ADD, token="")[0] == 403
        assert "api.token_file" in call("POST", base, ADD, token="anything")[1]["error"]
    finally:
        server.stop()
    assert store.list() == []


def test_unknown_ids_paths_and_methods(url) -> None:
    assert call("DELETE", f"{url}/api/v1/silences/no-such-id")[0] == 404
    assert call("DELETE", f"{url}/api/v1/silences/a/b")[0] == 404
    status, _, headers = call("DELETE", f"{url}/api/v1/silences")
    assert status == 405 and headers["Allow"] == "GET, POST"
    assert call("GET", f"{url}/api/v1/silences/x")[0] == 405
    with urllib.request.urlopen(f"{url}/healthz", timeout=5) as r:  # the status routes still answer
        assert r.status == 200


def test_the_token_never_reaches_a_log(url, caplog) -> None:
    with caplog.at_level(logging.DEBUG):
        call("POST", f"{url}/api/v1/silences", ADD)
        call("GET", f"{url}/api/v1/silences", token="wrong")
    assert caplog.records and not any(TOKEN in r.getMessage() for r in caplog.records)


def test_a_body_over_64_kib_is_refused_unread(url, store) -> None:
    import http.client
    from urllib.parse import urlsplit

    conn = http.client.HTTPConnection(urlsplit(url).netloc, timeout=5)
    conn.putrequest("POST", "/api/v1/silences")
    conn.putheader("Authorization", f"Bearer {TOKEN}")
    conn.putheader("Content-Length", str(10 * 1024 * 1024))
    conn.endheaders()
    assert conn.getresponse().status == 413
    conn.close()
    assert store.list() == []
