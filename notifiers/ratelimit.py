"""Per-robot send pacing: a token bucket, hard rolling windows, and pauses.

WeCom and DingTalk allow 20 messages per minute per robot, and DingTalk blocks a robot for
about 10 minutes when it sees the 21st (errcode 130101). A token bucket alone can exceed a
rolling window (a full bucket plus a minute of refill), so every send also has to fit into
each hard window: "at most N sends in any span of S seconds". Feishu adds 5/s next to
100/min, hence several windows. A pause (after 130101, 45009, 9499 or exhausted retries)
holds the robot back entirely until it ends.

Time comes from the caller's monotonic clock; nothing here sleeps.
"""
from __future__ import annotations

import math
import threading
from collections import deque
from typing import Sequence

from .clock import Monotonic

# Sends are stamped when they leave, the platform stamps them when they arrive: keep the
# oldest send a little longer in the window so clock granularity never makes it 21.
_WINDOW_MARGIN = 0.05


class RateLimiter:
    def __init__(self, *, rate_per_minute: float, burst: int,
                 windows: Sequence[tuple[float, int]] = (), monotonic: Monotonic) -> None:
        """`rate_per_minute`: token refill; `burst`: bucket size (sends allowed back to back);
        `windows`: (span_seconds, max_sends) pairs that must never be exceeded."""
        if rate_per_minute <= 0 or burst < 1:
            raise ValueError("rate_per_minute must be > 0 and burst >= 1")
        self._rate = rate_per_minute / 60.0
        self._burst = float(burst)
        self._tokens = float(burst)
        self._monotonic = monotonic
        self._last = monotonic()
        self._windows: list[tuple[float, int, deque[float]]] = [
            (float(span), int(limit), deque()) for span, limit in windows]
        self._paused_until = -math.inf
        self._pause_reason = ""
        self._lock = threading.Lock()

    # -- queries -----------------------------------------------------------------------------
    def delay(self) -> float:
        """Seconds until the next send may leave (0.0: now)."""
        with self._lock:
            now = self._refill()
            waits = [self._paused_until - now, (1.0 - self._tokens) / self._rate]
            for span, limit, stamps in self._windows:
                self._expire(stamps, span, now)
                if len(stamps) >= limit:
                    waits.append(stamps[-limit] + span + _WINDOW_MARGIN - now)
            wait = max(waits)
            # Below a microsecond is float noise (a monotonic clock at 10^4 s cannot even
            # represent the step): treat it as "now" rather than sleep forever on it.
            return wait if wait > 1e-6 else 0.0

    def available(self) -> int:
        """How many sends could leave right now, back to back."""
        with self._lock:
            now = self._refill()
            if now < self._paused_until:
                return 0
            n = int(self._tokens + 1e-9)
            for span, limit, stamps in self._windows:
                self._expire(stamps, span, now)
                n = min(n, limit - len(stamps))
            return max(0, n)

    def paused_for(self) -> float:
        with self._lock:
            return max(0.0, self._paused_until - self._monotonic())

    @property
    def pause_reason(self) -> str:
        return self._pause_reason

    # -- changes -----------------------------------------------------------------------------
    def try_acquire(self) -> float:
        """Take one send if allowed now and return 0.0; else return the delay, taking nothing."""
        wait = self.delay()
        if wait > 0:
            return wait
        with self._lock:
            now = self._refill()
            self._tokens = max(0.0, self._tokens - 1.0)
            for _span, _limit, stamps in self._windows:
                stamps.append(now)
            return 0.0

    def pause(self, seconds: float, *, reason: str = "") -> None:
        """Hold every send back for `seconds` (extends, never shortens, a running pause)."""
        with self._lock:
            until = self._monotonic() + max(0.0, seconds)
            if until > self._paused_until:
                self._paused_until = until
                self._pause_reason = reason

    # -- internals ---------------------------------------------------------------------------
    def _refill(self) -> float:
        now = self._monotonic()
        elapsed = max(0.0, now - self._last)
        self._tokens = min(self._burst, self._tokens + elapsed * self._rate)
        self._last = now
        return now

    @staticmethod
    def _expire(stamps: deque[float], span: float, now: float) -> None:
        while stamps and stamps[0] + span + _WINDOW_MARGIN <= now:
            stamps.popleft()
