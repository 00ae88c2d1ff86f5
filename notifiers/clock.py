"""Time sources passed in by the caller, so tests make time pass without sleeping.

Every notifier component takes a wall clock (aware UTC `datetime`), a monotonic clock (float
seconds) and, where it waits, a sleep function. The defaults here are the real ones.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Callable

WallClock = Callable[[], datetime]
"""Returns an aware UTC datetime (signing timestamps, outcome times, confirmed-log retention)."""
Monotonic = Callable[[], float]
"""Returns seconds from an arbitrary origin that never goes backwards (rate limits, pauses)."""
Sleep = Callable[[float], None]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


monotonic: Monotonic = time.monotonic
