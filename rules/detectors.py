"""Detectors: how a rule turns matching records into detections.

Two families. *Instant* detectors (`any`, `oom_killed`) report occurrences: each one may start an
incident. *Condition* detectors (`frequency`, `endpoints_unhealthy`) report, per key, whether a
condition holds; the engine turns those into pending → firing → resolved. A key whose condition
does not hold need not be reported unless an incident is open for it (`Context.open`): most of a
frequency rule's occurrences leave its count below the threshold and change nothing. Detectors keep only the
small state they need and never look at a clock: time comes in as arguments. The two that read the
shared cluster state, `oom_killed` and `endpoints_unhealthy`, are in state_detectors.py.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, Protocol

from rules import durations
from rules.deadlines import Deadlines
from rules.model import Record
from rules.registry import Fail, register

if TYPE_CHECKING:
    from rules.context import Context
    from rules.rule import Rule


@dataclass(slots=True)
class Detection:
    key: str
    incident: str
    """Occurrence id from the object's own data (see `Alert.incident`)."""
    at: datetime
    record: Optional[Record]
    """None for an incident restored from its alert (a restart) until a record refreshes it."""
    fields: Optional[dict[str, Any]] = None
    summary: str = ""
    active: bool = True
    level: int = 1
    """Condition detectors: how bad (e.g. unhealthy endpoints); a primed incident fires when the
    level rises above what it was at start-up."""
    count: int = 1
    kind: str = ""
    name: str = ""
    view: Optional[Mapping[str, Any]] = None
    describe: Optional[Callable[["Detection"], tuple[dict[str, Any], str]]] = None
    """Builds `fields` and `summary` on demand: most occurrences are folded into an open
    incident and never become a message, so they need no text."""

    def materialize(self) -> "Detection":
        if self.describe is not None:
            self.fields, self.summary = self.describe(self)
            self.describe = None
        return self

    def resolving(self, opened: "Detection") -> "Detection":
        """This closing detection under the identity of the incident `opened` it resolves, so
        the resolved alert tells the current state (2/2 ready); `opened` itself when this one
        has no record to tell it from."""
        if self.record is None:
            return opened
        self.key = opened.key
        return self.materialize()

    def described(self) -> tuple[Optional[dict[str, Any]], str]:
        """`fields` and `summary` as they would be now, not kept: a pending incident rendered
        for a checkpoint is described again when it fires (its cause may be seen meanwhile)."""
        return self.describe(self) if self.describe is not None else (self.fields, self.summary)


class Detector(Protocol):
    type: str
    """The detector's name in rule files (`oom_killed`, ...); alerts carry it, so a message's
    layout follows what was detected, not the rule's name."""
    instant: bool
    counts_occurrences: bool
    """True when the detector only acts on occurrences (a change that is not one — an Event's
    metadata update, a deletion — can skip the rule without matching)."""

    def observe(self, rule: Rule, record: Record, views: list[dict[str, Any]], now: datetime,
                ctx: Context) -> list[Detection]: ...

    def expire(self, rule: Rule, now: datetime) -> list[Detection]: ...


def when(record: Record, now: datetime) -> datetime:
    return record.timestamp or now


def _incident_of(record: Record, view: Mapping[str, Any]) -> str:
    """`uid@resourceVersion`; a container's view puts the container after the uid."""
    if "container" in view:
        return f"{record.uid}/{view['container']}@{record.resource_version}"
    return f"{record.uid}@{record.resource_version}"


def _event_fields(record: Record) -> dict[str, Any]:
    e = record.event
    assert e is not None
    return {"reason": e.reason, "type": e.type, "message": e.message, "count": e.count,
            "involved_kind": e.involved_kind, "involved_name": e.involved_name,
            "component": e.component, "host": e.host, "node": e.host}


def _describe(record: Record, view: Mapping[str, Any]) -> str:
    if record.event is not None:
        e = record.event
        return f"{e.type} {e.reason} on {e.involved_kind} {record.namespace}/{e.involved_name}: {e.message}"
    where = f"{record.kind} {record.namespace}/{record.name}"
    if "container" in view:
        where += f" container {view['container']}"
    return where


def _any_detail(det: Detection) -> tuple[dict[str, Any], str]:
    record, view = _seen(det)
    return _view_fields(record, view), _describe(record, view)


def _seen(det: Detection) -> tuple[Record, Mapping[str, Any]]:
    """The record and view a detection with a `describe` callback was made from (only one
    restored from an alert has neither, and it comes described)."""
    assert det.record is not None and det.view is not None, "a described detection has its record and view"
    return det.record, det.view


def _view_fields(record: Record, view: Mapping[str, Any]) -> dict[str, Any]:
    if record.event is not None:
        return _event_fields(record)
    return {k: v for k, v in view.items() if k not in ("cluster", "kind", "watch_type", "uid")}


@register(sources=("event", "pod", "endpoints"))
class AnyDetector:
    """Every matching change is an occurrence."""

    type = "any"
    instant = True
    counts_occurrences = True

    @classmethod
    def from_options(cls, spec: Mapping[str, Any], fail: Fail) -> "AnyDetector":
        return cls()

    def observe(self, rule: Rule, record: Record, views: list[dict[str, Any]], now: datetime,
                ctx: Context) -> list[Detection]:
        n = ctx.occurrences
        if n <= 0:
            return []
        at = record.timestamp or now
        # Positional, in Detection's field order (named on the right): a third of the bench's
        # records make one, and 7 keyword arguments cost ~0.2 us more.
        return [Detection(rule.key_for(view), _incident_of(record, view), at, record,  # key incident at record
                          None, "", True, 1, n, "", "", view, _any_detail)  # fields summary active level count kind name view describe
                for view in views]

    def expire(self, rule: Rule, now: datetime) -> list[Detection]:
        return []


@dataclass(slots=True)
class _Window:
    """One key's occurrences inside the window: (time, count) oldest first, their running
    total, and the key's latest detection while the condition holds (an expiry re-announces
    it, inactive); None while it does not.

    The hits are a list while they are few (most keys are seen once or twice: a deque is 760
    bytes to make and free, a list 64), a deque past `_FEW` (dropping from the front of a long
    list moves all the rest)."""

    last: Optional[Detection] = None
    hits: list[tuple[datetime, int]] | deque[tuple[datetime, int]] = field(default_factory=list)
    total: int = 0

    def add(self, at: datetime, n: int) -> None:
        hits = self.hits
        hits.append((at, n))
        self.total += n
        if len(hits) > _FEW and hits.__class__ is list:
            self.hits = deque(hits)

    def prune(self, cutoff: datetime) -> int:
        """Drop hits at or before `cutoff`; returns the total left."""
        hits, total = self.hits, self.total
        if isinstance(hits, list):
            i = 0
            while i < len(hits) and hits[i][0] <= cutoff:
                total -= hits[i][1]
                i += 1
            if i:
                del hits[:i]
        else:
            while hits and hits[0][0] <= cutoff:
                total -= hits.popleft()[1]
        self.total = total
        return total


#: Hits a window keeps in a list before it moves them to a deque.
_FEW = 16


@register(sources=("event", "pod", "endpoints"), options=("threshold", "window"))
@dataclass
class FrequencyDetector:
    """`threshold` occurrences within `window`, per key: a condition that resolves when the
    count in the window falls below the threshold again."""

    threshold: int
    window: timedelta
    type = "frequency"
    instant = False
    counts_occurrences = True

    @classmethod
    def from_options(cls, spec: Mapping[str, Any], fail: Fail) -> "FrequencyDetector":
        threshold = spec.get("threshold")
        if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
            fail("threshold", f"`threshold` must be a whole number ≥ 1, got {threshold!r}")
            threshold = 1
        window = spec.get("window")
        if window is None:
            fail("window", "`window` is required (a duration like 30s, 5m, 1h)")
            return cls(threshold=threshold, window=timedelta(1))
        try:
            parsed = durations.parse(window)
        except ValueError as exc:
            fail("window", f"`window`: {exc}")
            return cls(threshold=threshold, window=timedelta(1))
        if parsed <= timedelta(0):
            fail("window", "`window` must be longer than 0s")
        return cls(threshold=threshold, window=parsed)
    _windows: dict[str, _Window] = field(default_factory=dict)
    _expiry: Deadlines[str] = field(default_factory=Deadlines)
    """When each key's oldest hit leaves the window."""

    def observe(self, rule: Rule, record: Record, views: list[dict[str, Any]], now: datetime,
                ctx: Context) -> list[Detection]:
        n = ctx.occurrences
        at = record.timestamp or now
        if n <= 0 or at < ctx.stale_before:
            return []
        cutoff = (at if at > now else now) - self.window
        out = []
        threshold, open_keys = self.threshold, ctx.open
        windows = self._windows
        for view in views:
            key = rule.key_for(view)
            if record.listed and ctx.seen.already_counted(rule.name, key, at):
                continue  # a LIST's copy of what the restored window holds already
            window = windows.get(key)
            if window is None:  # most keys: a first hit, nothing to prune, a first expiry
                if at <= cutoff:  # already out of the window (a late Event): nothing to keep
                    if key in open_keys:
                        out.append(self._detection(key, record, view, at, 0))
                    continue
                window = windows[key] = _Window(None, [(at, n)], n)
                total, moved = n, True
            else:
                oldest = window.hits[0]
                window.add(at, n)
                total = window.prune(cutoff)
                moved = not window.hits or window.hits[0] is not oldest
            if total >= threshold or key in open_keys:
                window.last = det = self._detection(key, record, view, at, total)
                out.append(det)
            else:  # below the threshold with no incident to resolve: nothing to tell the engine
                window.last = None
            if not moved:
                continue  # the same oldest hit, so the same expiry
            if window.hits:
                self._expiry.schedule(key, window.hits[0][0] + self.window)
            else:  # the occurrence was already out of the window (a late Event): nothing to keep
                del windows[key]
                self._expiry.cancel(key)
        return out

    def window_hits(self, key: str) -> list[list[Any]]:
        """The hits in `key`'s window, JSON-ready (`[time, count]`), for a checkpoint."""
        window = self._windows.get(key)
        return [[t.isoformat(), n] for t, n in window.hits] if window is not None else []

    def restore_window(self, key: str, hits: Any, incident: str, last_seen: Optional[datetime], count: int) -> bool:
        """After a restart, the window of a restored incident from `window_hits` (or, from an
        older checkpoint without them, its count at its last occurrence); True if restored. The
        first LIST's copies of these occurrences are not counted again."""
        try:
            kept = [(datetime.fromisoformat(t), int(n)) for t, n in hits or ()]
        except (TypeError, ValueError):
            kept = []
        if not kept and last_seen is not None:
            kept = [(last_seen, count)]
        if not kept or key in self._windows:
            return False
        total = sum(n for _, n in kept)
        last = Detection(key, incident, kept[-1][0], None, None, "", True, 1, total)  # restored: described already
        self._windows[key] = _Window(last, kept if len(kept) <= _FEW else deque(kept), total)
        self._expiry.schedule(key, kept[0][0] + self.window)
        return True

    def _detection(self, key: str, record: Record, view: dict[str, Any], at: datetime, total: int) -> Detection:
        # Positional, in Detection's field order (named on the right), as `AnyDetector` says why.
        return Detection(key, _incident_of(record, view), at, record,  # key incident at record
                         None, "", total >= self.threshold, 1, total,  # fields summary active level count
                         "", "", view, self._detail)  # kind name view describe

    def expire(self, rule: Rule, now: datetime) -> list[Detection]:
        out = []
        windows, expiry, span, threshold = self._windows, self._expiry, self.window, self.threshold
        cutoff = now - span
        for key in expiry.pop_due(now):
            window = windows.get(key)
            if window is None:
                continue
            total = window.prune(cutoff)
            last = window.last
            if total < threshold and last is not None and last.active:
                window.last = last = Detection(  # positional, in field order (named on the right)
                    key, last.incident, now, last.record, None, "", False, 1, total,  # key incident at record fields summary active level count
                    "", "", last.view, self._detail)  # kind name view describe
                out.append(last)
            if window.hits:
                expiry.schedule(key, window.hits[0][0] + span)
            else:
                del windows[key]
        return out

    def _detail(self, det: Detection) -> tuple[dict[str, Any], str]:
        record, view = _seen(det)
        fields = {**_view_fields(record, view), "count": det.count, "threshold": self.threshold,
                  "window": fmt_duration(self.window)}
        verb = f"{det.count}× in" if det.active else f"below {self.threshold} in"
        return fields, f"{verb} {fmt_duration(self.window)}: {_describe(record, view)}"


def fmt_duration(d: timedelta) -> str:
    s = int(d.total_seconds())
    for unit, size in (("h", 3600), ("m", 60)):
        if s and s % size == 0:
            return f"{s // size}{unit}"
    return f"{s}s"
