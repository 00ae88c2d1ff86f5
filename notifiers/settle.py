"""The settle step: what one delivery attempt's result means for its outbox entries.

A pure function of (the attempt's result, which attempt it was, the robot's consecutive
failures so far, the notifier's settings), tested as a table (tests/notifiers/test_settle.py),
as Alertmanager's `needsUpdate` is. The worker (worker.py) applies the decision in a few lines
that touch the outbox and the robot's limiter:
  ok                          → confirm      the entries leave the outbox         `sent`
  retry, attempts left        → retry        the worker backs off and tries again `retried`
  throttle                    → pause        the platform's period (DingTalk 130101: ~10 min);
                                             the alerts stay queued, merged later `paused`
  retry, attempts used up     → pause        30 s, 60 s … 10 min as failures repeat `paused`
  permanent                   → dead_letter  moved to the outbox's failed/         `failed`
Randomness (the pause's jitter) is passed in, so the function stays pure.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .outcome import OutcomeResult
from .platform import DeliveryResult
from .settings import NotifierSettings

SettleAction = Literal["confirm", "retry", "pause", "dead_letter"]

BACKOFF_FIRST = 30.0
"""Pause after the first message whose retries were used up; doubles with each one after."""
BACKOFF_MAX = 600.0

_OUTCOME: dict[SettleAction, OutcomeResult] = {
    "confirm": "sent", "retry": "retried", "pause": "paused", "dead_letter": "failed"}


@dataclass(frozen=True, slots=True)
class Decision:
    action: SettleAction
    failures: int
    """The robot's consecutive failures after this result (messages whose retries were used
    up; a confirmed message resets it): the next backoff's exponent."""
    pause_seconds: float = 0.0
    """For `pause`: how long the robot sends nothing (jitter included)."""
    throttled: bool = False
    """For `pause`: the platform said "too fast" (rather than: retries used up)."""

    @property
    def outcome(self) -> OutcomeResult:
        """What the delivery outcome reports (outcome.py)."""
        return _OUTCOME[self.action]


def settle(result: DeliveryResult, *, attempt: int, failures: int,
           settings: NotifierSettings, jitter: float = 1.0) -> Decision:
    """Decide after attempt number `attempt` (1 = the first) of one message. `failures`: the
    robot's consecutive failures before it; `jitter`: the factor a pause is stretched by
    (the worker draws it from 1.0 … 1.1, so replicas and robots do not knock in step)."""
    if result.kind == "ok":
        return Decision("confirm", failures=0)
    if result.kind == "permanent":
        return Decision("dead_letter", failures=failures)
    if result.kind == "throttle":
        pause = result.retry_after or settings.throttle_pause_seconds
        return Decision("pause", failures=failures, pause_seconds=pause * jitter, throttled=True)
    if attempt < settings.retry_attempts:
        return Decision("retry", failures=failures)
    pause = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** failures)
    return Decision("pause", failures=failures + 1, pause_seconds=pause * jitter)
