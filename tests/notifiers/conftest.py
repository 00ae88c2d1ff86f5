"""Fixtures for the notifier tests: a shared fake clock, protocol-true receivers, builders.

Every test here runs with all loggers captured at DEBUG (urllib3's request lines included),
and fails if any test secret shows up in the captured logs.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from datetime import timedelta
from typing import Any, Callable, Iterator

import pytest
import requests

from notifiers import Dispatcher, Notifier, NotifierDefaults, Outbox, build_notifier
from notifiers.outcome import DeliveryOutcome
from notifiers.samples import sample_alert
from rules.alert import Alert
from tests.notifiers.receivers import (DingRobot, DingTalkReceiver, FakeClock, FeishuReceiver,
                                       WebhookReceiver, WeComReceiver)

WECOM_KEY = "wk-3f9a1c7e5b2d4086"
DING_TOKEN = "dt-8e1b4c9f2a7d3065"
DING_SECRET = "SECd41d8cd98f00b204e9800998ecf8427e"
FEISHU_TOKEN = "fs-6c2e9b1a-4f7d-4e3a-9b8c"
FEISHU_SECRET = "fss-7b3c9d2e1f0a55"
WEBHOOK_TOKEN = "whp-9a8b7c6d5e4f"
WEBHOOK_HMAC = "wh-hmac-5e4d3c2b1a09"
WRONG_KEY = "wk-wrong-0d9c8b7a6f5e"
SECRETS = (WECOM_KEY, DING_TOKEN, DING_SECRET, FEISHU_TOKEN, FEISHU_SECRET, WEBHOOK_TOKEN,
           WEBHOOK_HMAC, WRONG_KEY)
KEYWORD = "告警"
NAME = "ops"


@pytest.fixture(autouse=True)
def no_secret_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.DEBUG)
    yield
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    # caplog keeps records per phase; at teardown `caplog.records` would be empty.
    records = caplog.get_records("setup") + caplog.get_records("call")
    texts = [formatter.format(r) for r in records]
    leaked = [s for s in SECRETS if any(s in t for t in texts)]
    assert not leaked, f"secrets in captured logs: {leaked}"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def wecom_rx(clock: FakeClock) -> Iterator[WeComReceiver]:
    rx = WeComReceiver(clock, keys=(WECOM_KEY,)).start()
    yield rx
    rx.stop()


@pytest.fixture
def ding_rx(clock: FakeClock) -> Iterator[DingTalkReceiver]:
    rx = DingTalkReceiver(clock, robots={DING_TOKEN: DingRobot(DING_SECRET, (KEYWORD, "恢复"))})
    rx.start()
    yield rx
    rx.stop()


@pytest.fixture
def feishu_rx(clock: FakeClock) -> Iterator[FeishuReceiver]:
    rx = FeishuReceiver(clock, bots={FEISHU_TOKEN: FEISHU_SECRET}).start()
    yield rx
    rx.stop()


@pytest.fixture
def webhook_rx(clock: FakeClock) -> Iterator[WebhookReceiver]:
    rx = WebhookReceiver(clock, hmac_secret=WEBHOOK_HMAC).start()
    yield rx
    rx.stop()


def url_for(platform: str, base: str, *, credential: str | None = None) -> str:
    if platform == "wecom":
        return f"{base}/cgi-bin/webhook/send?key={credential or WECOM_KEY}"
    if platform == "dingtalk":
        return f"{base}/robot/send?access_token={credential or DING_TOKEN}"
    if platform == "feishu":
        return f"{base}/open-apis/bot/v2/hook/{credential or FEISHU_TOKEN}"
    return f"{base}/hooks/{credential or WEBHOOK_TOKEN}"


def raw_for(platform: str, base: str, **overrides: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {"type": platform, "url": url_for(platform, base)}
    if platform == "dingtalk":
        raw.update(secret=DING_SECRET, keywords=[KEYWORD, "恢复"])
    elif platform == "feishu":
        raw.update(secret=FEISHU_SECRET)
    elif platform == "webhook":
        raw.update(hmac_secret=WEBHOOK_HMAC)
    raw.update(overrides)
    return raw


@pytest.fixture
def make_notifier(clock: FakeClock) -> Callable[..., Notifier]:
    sessions: list[requests.Session] = []

    def make(platform: str, base: str, name: str | None = None, **overrides: Any) -> Notifier:
        """A notifier named `name` (default: the platform) posting to receiver `base`."""
        session = requests.Session()
        sessions.append(session)
        return build_notifier(name or platform, raw_for(platform, base, **overrides),
                              defaults=NotifierDefaults(), session=session, clock=clock.now)

    yield make
    for s in sessions:
        s.close()


class Outcomes(list):
    """Thread-safe collector of DeliveryOutcome."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def __call__(self, outcome: DeliveryOutcome) -> None:
        with self._lock:
            self.append(outcome)

    def of(self, result: str) -> list[DeliveryOutcome]:
        with self._lock:
            return [o for o in self if o.result == result]


@pytest.fixture
def outcomes() -> Outcomes:
    return Outcomes()


@pytest.fixture
def make_dispatcher(clock: FakeClock, outcomes: Outcomes, tmp_path: Any) -> Callable[..., Dispatcher]:
    started: list[Dispatcher] = []

    def make(notifiers: dict[str, Notifier], *, outbox: Outbox | None = None,
             default_route: tuple[str, ...] | None = None, routes: Any = None) -> Dispatcher:
        d = Dispatcher(notifiers, default_route=default_route if default_route is not None else tuple(notifiers),
                       outbox=outbox if outbox is not None else Outbox(tmp_path / "outbox",
                                                                     clock=clock.now),
                       clock=clock.now, on_outcome=outcomes, monotonic=clock.monotonic,
                       sleep=clock.sleep, routes=routes)
        started.append(d)
        return d

    yield make
    for d in started:
        d.stop(0.0)


def occurrences(texts: list[str], needle: str) -> int:
    return sum(t.count(needle) for t in texts)


def wait_for(predicate: Callable[[], bool], timeout: float = 15.0, what: str = "") -> None:
    """Wait in real time for something another thread does (never to make time pass)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what or predicate}")


def numbered_alerts(n: int, *, kind: str = "oom", clock: FakeClock | None = None) -> list[Alert]:
    """n distinct alerts whose pods are `burst-pod-00` … so each can be found in a message."""
    base = sample_alert(kind, now=clock.now() if clock else None)  # type: ignore[arg-type]
    out = []
    for i in range(n):
        fields = dict(base.fields, pod=f"burst-pod-{i:02d}")
        out.append(replace(base, key=f"shop/burst-pod-{i:02d}/app", name=f"burst-pod-{i:02d}",
                           fields=fields, at=base.at + timedelta(seconds=i)))
    return out
