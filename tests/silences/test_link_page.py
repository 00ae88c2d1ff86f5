"""The link's page over HTTP on the real status server: GET changes nothing, POST makes the one
silence the token names (and no second on a double click), a bad token is a 403 page, every
value escaped, the token kept out of logs and Referer."""
from __future__ import annotations

import logging
import urllib.error
import urllib.parse
import urllib.request
from datetime import timedelta
from typing import Iterator

import pytest
from prometheus_client import CollectorRegistry

from notifiers.silencelink import LINK_TTL, sign
from tests.silences.helpers import HOUR, NOW, Clock
from watcher.health import Health, StatusServer
from watcher.silences.filestore import FileSilenceStore
from watcher.silences.page import SilenceLinkPage

SECRET = "link-secret-5e8d2c7a9b1f4036"
RULE, KEY = "oom-killed", "shop/order-api-7d9f8b6c5-x2k4p/app"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path, clock) -> FileSilenceStore:
    return FileSilenceStore(tmp_path, clock=clock)


@pytest.fixture
def base(store, clock) -> Iterator[str]:
    server = StatusServer("127.0.0.1", 0, health=Health(), registry=CollectorRegistry(),
                          apps=[SilenceLinkPage(store, secret=SECRET, timezone="Asia/Shanghai", clock=clock)])
    server.start()
    yield f"http://127.0.0.1:{server.port}"
    server.stop()


def token(key: str = KEY, secret: str = SECRET) -> str:
    return sign(secret, rule=RULE, key=key, expires_at=NOW + LINK_TTL)


def fetch(url: str, form: dict[str, str] | None = None) -> tuple[int, str, dict[str, str]]:
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=5) as r:
            return r.status, r.read().decode(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), dict(e.headers)


def test_get_shows_what_and_how_long_and_changes_nothing(base, store) -> None:
    status, page, headers = fetch(f"{base}/silence?t={token()}")
    assert status == 200 and "静默 1 小时" in page and RULE in page and KEY in page
    assert "2026-12-01 12:00:00 CST" in page  # NOW + 1 h in Asia/Shanghai
    assert f'name=t value="{token()}"' in page and "<script" not in page
    assert headers["Referrer-Policy"] == "no-referrer" and "default-src 'none'" in headers["Content-Security-Policy"]
    assert store.list() == []


def test_post_makes_the_silence_of_that_alert_for_one_hour(base, store) -> None:
    status, page, _ = fetch(f"{base}/silence", {"t": token()})
    (made,) = store.list()
    assert status == 201 and made.id in page and "已静默" in page
    assert [str(m) for m in made.matchers] == [f'rule="{RULE}"', f'key="{KEY}"']
    assert (made.starts_at, made.ends_at, made.created_by) == (NOW, NOW + HOUR, "link")


def test_a_double_click_makes_no_second_silence(base, store, clock) -> None:
    fetch(f"{base}/silence", {"t": token()})
    status, page, _ = fetch(f"{base}/silence", {"t": token()})
    assert status == 200 and "该告警已在静默中" in page and len(store.list()) == 1
    clock.now = NOW + HOUR  # the first has ended: the link (still valid) makes a new one
    assert fetch(f"{base}/silence", {"t": token()})[0] == 201 and len(store.list()) == 2


@pytest.mark.parametrize("bad", [token(secret="another-secret-0123456789"), token()[:-2], "", "a.b"])
def test_a_bad_token_is_a_403_page_and_makes_nothing(base, store, bad) -> None:
    for status, page, _ in (fetch(f"{base}/silence?t={bad}"), fetch(f"{base}/silence", {"t": bad})):
        assert status == 403 and "链接无效" in page
    assert store.list() == []


def test_an_expired_link_is_refused(base, store, clock) -> None:
    clock.now = NOW + LINK_TTL
    status, page, _ = fetch(f"{base}/silence", {"t": token()})
    assert status == 403 and "expired" in page and store.list() == []


def test_values_are_escaped(base, store) -> None:
    key = 'shop/<img src=x onerror=alert(1)>/"app'
    _, page, _ = fetch(f"{base}/silence?t={urllib.parse.quote(token(key=key))}")
    assert "<img" not in page and "&lt;img src=x onerror=alert(1)&gt;/&quot;app" in page


def test_the_token_stays_out_of_the_log(base, caplog) -> None:
    with caplog.at_level(logging.DEBUG):
        fetch(f"{base}/silence?t={token()}")
        fetch(f"{base}/silence?t=bad.{token().split('.')[1]}")
    assert caplog.records and not any(token().split(".")[1] in r.getMessage() for r in caplog.records)


@pytest.mark.es
def test_clicks_on_two_replicas_before_either_refreshes_make_one_silence(es_client, es_prefix, clock) -> None:
    # Two replicas behind one Service, sharing the Elasticsearch store; neither has refreshed
    # since the other's click (they re-read every 5 s by default).
    from tests.es.helpers import prefix_of
    from watcher.silences.esstore import EsSilenceStore

    stores = [EsSilenceStore(es_client, prefix=prefix_of(es_prefix), clock=clock, refresh_interval=3600)
              for _ in range(2)]
    pages = [SilenceLinkPage(s, secret=SECRET, clock=clock) for s in stores]
    for s in stores:
        s.start()
    try:
        first, second = (page_post(p, token()) for p in pages)
        assert (first.status, second.status) == (201, 200)
        assert [s.id for s in stores[0].list() if s.active(clock())] == [_silence_id(first)]
        assert _silence_id(second) == _silence_id(first)
        # once it has ended, a click makes the next one (the link is good for 24 h)
        stores[0].expire(_silence_id(first), clock())
        clock.now += timedelta(minutes=1)
        again = page_post(pages[1], token())
        assert again.status == 201 and _silence_id(again) != _silence_id(first)
        assert len([s for s in stores[1].list() if s.active(clock())]) == 1
    finally:
        for s in stores:
            s.close()


def page_post(page: SilenceLinkPage, tok: str):
    from watcher.health import Request

    return page(Request("POST", "/silence", "", {}, urllib.parse.urlencode({"t": tok}).encode()))


def _silence_id(response) -> str:
    import re

    return re.search(r"<code id=silence-id>([^<]+)</code>", response.body.decode()).group(1)
