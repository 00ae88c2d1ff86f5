"""Feed recorded watch streams through the rules: the offline half of the pipeline.

Time comes from the records themselves: `now` is the newest object time seen so far, the first
record's time is the stale-history cutoff, and `tick(now)` runs before each record so `for`
timers and windows behave as they would have live.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Iterable

from rules.alert import Alert
from rules.engine import Engine
from rules.rule import Rule
from watcher.normalize import MalformedObject, normalize
from watcher.recording import RecordingError, WatchItem, read_recording

log = logging.getLogger("kea.replay")


@dataclass
class ReplayStats:
    records: int = 0
    bookmarks: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    alerts: int = 0

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())


def replay(
    paths: Iterable[str],
    rules: list[Rule],
    *,
    cluster: str = "replay",
    emit: Callable[[Alert], None],
    on_problem: Callable[[str, str], None] = lambda where, msg: log.warning("%s: %s", where, msg),
) -> ReplayStats:
    stats = ReplayStats()
    engine: Engine | None = None
    now: datetime | None = None

    def send(alerts: list[Alert]) -> None:
        for a in alerts:
            stats.alerts += 1
            emit(a)

    for path in paths:
        for item in read_recording(path):
            if isinstance(item, RecordingError):
                stats.skip(item.reason)
                on_problem(item.where, item.message)
                continue
            assert isinstance(item, WatchItem)
            if item.watch_type == "BOOKMARK":
                stats.bookmarks += 1
                continue
            if item.watch_type == "ERROR":
                stats.skip("watch_error")
                on_problem(item.where, f"watch ERROR in recording: {_status_message(item.obj)}")
                continue
            try:
                record = normalize(item.watch_type, item.obj, cluster=cluster)
            except MalformedObject as exc:
                stats.skip(exc.reason)
                on_problem(item.where, f"skipped: {exc}")
                continue
            stats.records += 1
            if engine is None:
                first = record.timestamp or datetime.now(timezone.utc)
                engine = Engine(rules, stale_before=first)
                now = first
            if record.timestamp is not None and record.timestamp > now:
                now = record.timestamp
                send(engine.tick(now))
            send(engine.process(record, now))
    return stats


def _status_message(obj: object) -> str:
    if isinstance(obj, dict):
        return f"{obj.get('code', '?')} {obj.get('reason', '')} {obj.get('message', '')}".strip()
    return repr(obj)[:80]
