"""Feed recorded watch streams through the rules: the offline half of the pipeline.

Time comes from the records themselves: `now` is the newest object time seen so far, the first
record's time is the stale-history cutoff, and `tick(now)` runs before each record so `for`
timers and windows behave as they would have live. Records without a time are judged at the
current `now` (those before the first timed record wait for it), and each file says how many
there were: a file of them alone never moves the clock.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Iterable, Optional, Protocol

from notifiers.clock import utcnow
from rules.alert import Alert
from rules.engine import Engine
from rules.model import Record
from rules.rule import Rule
from watcher.normalize import MalformedObject, normalize
from watcher.recording import RecordingError, WatchItem, read_recording
from watcher.sources import MAX_HELD_UNTIMED

log = logging.getLogger("kea.replay")


class Stage(Protocol):
    """What the replay tells an offline notify stage (watcher/decisions.Decider)."""

    def clock(self, now: datetime) -> None:
        """The replay clock moved to `now`; the alerts of that moment follow."""

    def next_due(self, after: datetime) -> Optional[datetime]:
        """The first moment after `after` at which a held alert is judged, if any."""


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
    stage: Optional[Stage] = None,
) -> ReplayStats:
    """`stage`: the offline notify stage (watcher/decisions.py), told the time as it moves."""
    stats = ReplayStats()
    timeline = _Timeline(rules, stats, emit, stage)
    for path in paths:
        untimed = 0
        for item in read_recording(path):
            record = _record(item, cluster, stats, on_problem)
            if record is None:
                continue
            untimed += record.timestamp is None
            timeline.feed(record)
        if untimed:
            on_problem(path, f"{untimed} records had no time; the replay clock did not move for them")
    timeline.finish()
    return stats


def _record(item: RecordingError | WatchItem, cluster: str, stats: ReplayStats,
            on_problem: Callable[[str, str], None]) -> Optional[Record]:
    """The record in `item`, or None (counted and reported unless it is a BOOKMARK)."""
    if isinstance(item, RecordingError):
        stats.skip(item.reason)
        on_problem(item.where, item.message)
        return None
    if item.watch_type == "BOOKMARK":
        stats.bookmarks += 1
        return None
    if item.watch_type == "ERROR":
        stats.skip("watch_error")
        on_problem(item.where, f"watch ERROR in recording: {_status_message(item.obj)}")
        return None
    try:
        return normalize(item.watch_type, item.obj, cluster=cluster)
    except MalformedObject as exc:
        stats.skip(exc.reason)
        on_problem(item.where, f"skipped: {exc}")
        return None


class _Timeline:
    """The engine and its clock: `now` is the newest record time so far, ticked before the
    record that moves it. The first record time starts it (and is the stale cutoff); records
    without a time before that wait for it."""

    def __init__(self, rules: list[Rule], stats: ReplayStats, emit: Callable[[Alert], None],
                 stage: Optional[Stage] = None) -> None:
        self.rules, self.stats, self.emit, self.stage = rules, stats, emit, stage
        self.engine: Optional[Engine] = None
        self.now = utcnow()
        self.held: list[Record] = []

    def feed(self, record: Record) -> None:
        self.stats.records += 1
        if self.engine is None:
            if record.timestamp is None and len(self.held) < MAX_HELD_UNTIMED:
                self.held.append(record)
                return
            self._start(record.timestamp or utcnow())
        self._process(record)

    def finish(self) -> None:
        if self.engine is None and self.held:
            self._start(utcnow())  # no record had a time at all

    def _start(self, first: datetime) -> None:
        self.engine, self.now = Engine(self.rules, stale_before=first), first
        if self.stage is not None:
            self.stage.clock(first)
        held, self.held = self.held, []
        for record in held:
            self._process(record)

    def _process(self, record: Record) -> None:
        assert self.engine is not None
        if record.timestamp is not None and record.timestamp > self.now:
            self._move_to(record.timestamp)
        self._send(self.engine.process(record, self.now))

    def _move_to(self, now: datetime) -> None:
        """Tick at `now`, and first at each moment the stage judges a held alert in between:
        live, the engine ticks every second, so what fires by then is seen by then."""
        assert self.engine is not None
        while self.stage is not None:
            due = self.stage.next_due(self.now)
            if due is None or due >= now:
                break
            self._step(due)
        self._step(now)

    def _step(self, now: datetime) -> None:
        assert self.engine is not None
        self.now = now
        if self.stage is not None:
            self.stage.clock(now)
        self._send(self.engine.tick(now))

    def _send(self, alerts: list[Alert]) -> None:
        for a in alerts:
            self.stats.alerts += 1
            self.emit(a)


def _status_message(obj: object) -> str:
    if isinstance(obj, dict):
        return f"{obj.get('code', '?')} {obj.get('reason', '')} {obj.get('message', '')}".strip()
    return repr(obj)[:80]
