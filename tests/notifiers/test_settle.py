"""The settle decision as a table (Alertmanager's `needsUpdate` table test is the model):
(result, attempt, failures so far, settings, jitter) → (action, failures after, pause, outcome)."""
from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from notifiers import DeliveryResult, NotifierSettings, build_notifier
from notifiers.settle import Decision, settle

WECOM = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=K"


def _settings(**changes: object) -> NotifierSettings:
    base = build_notifier("w", {"type": "wecom", "url": WECOM}).settings
    return replace(base, **changes)  # type: ignore[arg-type]


OK = DeliveryResult("ok", "0")
PERMANENT = DeliveryResult("permanent", "93000", "invalid webhook URL or key")
TRANSIENT = DeliveryResult("retry", "http_503", "server error", 503)
THROTTLED = DeliveryResult("throttle", "45009", "frequency limit", retry_after=90.0)
THROTTLED_NO_PERIOD = DeliveryResult("throttle", "http_429", "too many requests")


@dataclass(frozen=True)
class Case:
    name: str
    result: DeliveryResult
    attempt: int
    failures: int
    want: Decision
    retry_attempts: int = 4
    throttle_pause: float = 60.0
    jitter: float = 1.0


CASES = [
    Case("confirmed on the first attempt", OK, 1, 0, Decision("confirm", failures=0)),
    Case("confirmed after failures resets them", OK, 3, 5, Decision("confirm", failures=0)),
    Case("permanent is dead-lettered at once", PERMANENT, 1, 0, Decision("dead_letter", 0)),
    Case("permanent keeps the failure count", PERMANENT, 2, 3, Decision("dead_letter", 3)),
    Case("transient with attempts left is retried", TRANSIENT, 1, 0, Decision("retry", 0)),
    Case("transient on the next-to-last attempt is retried", TRANSIENT, 3, 2,
         Decision("retry", 2)),
    Case("retries used up: first pause 30 s", TRANSIENT, 4, 0,
         Decision("pause", failures=1, pause_seconds=30.0)),
    Case("retries used up again: the pause doubles", TRANSIENT, 4, 1,
         Decision("pause", failures=2, pause_seconds=60.0)),
    Case("repeated failures: the pause stops at 10 min", TRANSIENT, 4, 7,
         Decision("pause", failures=8, pause_seconds=600.0)),
    Case("retry_attempts 1: no retry at all", TRANSIENT, 1, 0,
         Decision("pause", failures=1, pause_seconds=30.0), retry_attempts=1),
    Case("jitter stretches the backoff pause", TRANSIENT, 4, 0,
         Decision("pause", failures=1, pause_seconds=33.0), jitter=1.1),
    Case("throttle pauses for the platform's period", THROTTLED, 1, 0,
         Decision("pause", failures=0, pause_seconds=90.0, throttled=True)),
    Case("throttle without a period uses throttle_pause_seconds", THROTTLED_NO_PERIOD, 1, 0,
         Decision("pause", failures=0, pause_seconds=600.0, throttled=True),
         throttle_pause=600.0),
    Case("throttle is not retried even with attempts left, nor counted", THROTTLED, 1, 2,
         Decision("pause", failures=2, pause_seconds=99.0, throttled=True), jitter=1.1),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_settle(case: Case) -> None:
    settings = _settings(retry_attempts=case.retry_attempts,
                         throttle_pause_seconds=case.throttle_pause)
    got = settle(case.result, attempt=case.attempt, failures=case.failures, settings=settings,
                 jitter=case.jitter)
    assert got.action == case.want.action
    assert got.failures == case.want.failures
    assert got.pause_seconds == pytest.approx(case.want.pause_seconds)
    assert got.throttled == case.want.throttled


@pytest.mark.parametrize(("action", "outcome"), [
    ("confirm", "sent"), ("retry", "retried"), ("pause", "paused"), ("dead_letter", "failed")])
def test_each_action_reports_its_outcome(action: str, outcome: str) -> None:
    assert Decision(action, failures=0).outcome == outcome  # type: ignore[arg-type]
