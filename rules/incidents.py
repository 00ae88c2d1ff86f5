"""Incidents: the engine's memory per rule and key, and their snapshot for restarts.

An incident moves through these states (a closed set, `IncidentState`):
    instant detectors:   (detection) → firing → [resolved after `resolve_after` quiet] → gone
    condition detectors: pending → firing (after `for`) → resolved (condition false) → gone
                         primed: the condition already held when watching began and nobody
                         was told; never fires unless it gets worse, never resolves out loud.

A snapshot (`to_snapshot` / `from_snapshot`) keeps every open incident with the alert that
announced it (or would), so a restarted daemon continues where the last one stopped: a pending
`for` keeps its start, a firing incident resolves out loud, a primed one stays quiet.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Mapping, Optional

from rules.alert import Alert
from rules.detectors import Detection

if TYPE_CHECKING:
    from rules.rule import Rule

IncidentState = Literal["pending", "firing", "primed"]
STATES: frozenset[str] = frozenset({"pending", "firing", "primed"})
SNAPSHOT_VERSION = 1


@dataclass(slots=True)
class Incident:
    detection: Detection
    incident: str
    state: IncidentState
    started_at: datetime
    since: datetime
    """When the engine first saw the condition (its clock), for `for`."""
    count: int = 1
    sequence: int = 0
    notified_at: Optional[datetime] = None
    last_seen: Optional[datetime] = None
    primed_level: int = 0
    notified_count: int = 0
    """`count` as of the last notification: folded repeats since then are told at the end of
    the fold window."""
    restored: Optional[Alert] = None
    """The alert this incident was restored from (a restart), until a record refreshes it."""
    stale: bool = False
    """Restored and not yet confirmed by the cluster: the first LIST after a restart refreshes
    every incident whose subject still exists; `Engine.reconcile` settles the others."""


def fold_window_over(rule: "Rule", inc: Incident, now: Optional[datetime]) -> bool:
    """An instant incident's fold window has ended by `now` (never without `now`, nor for a
    rule that resolves after a quiet period instead)."""
    last = inc.notified_at or inc.last_seen
    return now is not None and not rule.resolve_after and last is not None and last + rule.repeat_interval <= now


def to_snapshot(rule: str, inc: Incident, alert: Alert) -> dict[str, Any]:
    """One incident as JSON-ready data; `alert` is its announcing (or prospective) alert."""
    return {
        "rule": rule, "key": inc.detection.key, "state": inc.state, "incident": inc.incident,
        "started_at": inc.started_at.isoformat(), "since": inc.since.isoformat(), "count": inc.count,
        "sequence": inc.sequence, "notified_at": _iso(inc.notified_at), "last_seen": _iso(inc.last_seen),
        "primed_level": inc.primed_level, "notified_count": inc.notified_count, "alert": alert.to_dict(),
    }


def from_snapshot(doc: Mapping[str, Any]) -> tuple[str, Incident]:
    """(rule name, incident) from `to_snapshot` data; raises ValueError/KeyError/TypeError when
    the data is not a snapshot entry."""
    state = doc["state"]
    if state not in STATES:
        raise ValueError(f"unknown incident state {state!r}")
    alert = Alert.from_dict(doc["alert"])
    inc = restored_incident(alert, state=state, since=datetime.fromisoformat(doc["since"]))
    inc.count, inc.sequence = int(doc["count"]), int(doc["sequence"])
    inc.notified_at, inc.last_seen = _dt(doc.get("notified_at")), _dt(doc.get("last_seen"))
    inc.primed_level, inc.notified_count = int(doc["primed_level"]), int(doc["notified_count"])
    return str(doc["rule"]), inc


def restored_incident(alert: Alert, *, state: IncidentState = "firing",
                      since: Optional[datetime] = None) -> Incident:
    """An incident rebuilt from the alert that announced it (from a snapshot or the history)."""
    det = Detection(key=alert.key, incident=alert.incident, at=alert.started_at, record=None,
                    fields=dict(alert.fields), summary=alert.summary, kind=alert.kind, name=alert.name)
    return Incident(detection=det, incident=alert.incident, state=state, started_at=alert.started_at,
                    since=since or alert.started_at, count=alert.count, sequence=alert.sequence,
                    notified_at=alert.at if state == "firing" else None, last_seen=alert.at,
                    notified_count=alert.count if state == "firing" else 0, restored=alert, stale=True)


def _iso(value: Optional[datetime]) -> Optional[str]:
    return value.isoformat() if value is not None else None


def _dt(value: Any) -> Optional[datetime]:
    return datetime.fromisoformat(value) if value else None
