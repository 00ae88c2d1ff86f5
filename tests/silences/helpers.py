"""Shared by the silence tests: a silence builder, a fixed clock and a stats recorder."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

from notifiers.routes import parse_matcher
from notifiers.silences import Silence

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)


def silence(*matchers: str, start: datetime = NOW - HOUR, end: datetime = NOW + HOUR, id: str = "s-1",
            comment: str = "扩容中") -> Silence:
    return Silence(id=id, matchers=tuple(parse_matcher(m) for m in matchers or ("namespace=shop",)),
                   starts_at=start, ends_at=end, created_by="zhangsan", comment=comment, created_at=start)


class Clock:
    """A settable clock (tests move it; nothing sleeps)."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Stats:
    """A `watcher.silences.store.SilenceStats` that counts every report."""

    def __init__(self) -> None:
        self.counts: Counter = Counter()
        self.last_snapshot: tuple[int, int] | None = None

    def store_error(self, store: str, operation: str) -> None:
        self.counts[("error", store, operation)] += 1

    def invalid(self, store: str) -> None:
        self.counts[("invalid", store)] += 1

    def snapshot(self, store: str, active: int, total: int) -> None:
        self.last_snapshot = (active, total)
