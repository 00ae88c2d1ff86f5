"""The outbox's values and their on-disk form: an entry (the alert, its notifier, its hold and
group), what the confirmed log remembers of a settled one, and the ids that make "never twice"
work across restarts, replays and replicas. outbox.py owns the files; this owns the format.

Entry files are `{"v": 1, ...}` JSON; the grouping fields (`not_before`, `group`, `step`,
`reported`) are
written only when set, so entries of older versions load unchanged and an older version reads
new entries (ignoring the holds). Log lines are `{"id", "t"}` plus, since grouping, the
notifier, group, incident, status and a non-`sent` result.
"""
from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import orjson

from rules.alert import Alert

@dataclass(frozen=True, slots=True)
class OutboxEntry:
    id: str
    """`entry_id(notifier, alert)`: notifier name + alert id."""
    notifier: str
    alert: Alert
    seq: int
    """Order of arrival; the oldest are sent (and dropped) first."""
    enqueued_at: datetime
    not_before: datetime | None = None
    """Held: not due before this (None: due at once)."""
    group: str = ""
    """The route's group key: entries of one group due together go out as one message."""
    step: int = 0
    """0: the alert's own delivery; n > 0: escalation step n (routes.Escalation)."""
    reported: str = ""
    """The silence this entry's hold was reported for (`silenced` is reported once, restarts too)."""

    @property
    def incident(self) -> str:
        return incident_of(self.alert)


@dataclass(frozen=True, slots=True)
class Settled:
    """What the log remembers of a settled entry."""

    t: float
    notifier: str = ""
    group: str = ""
    incident: str = ""
    status: str = ""
    result: str = "sent"
    """"sent", or how it was settled without a send ("silenced", "inhibited", "skipped")."""
    code: str = ""
    """Settled without a send: why (the silence id, the inhibiting alert id, ...)."""


@dataclass(frozen=True, slots=True)
class PutResult:
    entry: OutboxEntry | None
    """The new entry, or None if nothing was written."""
    status: Literal["added", "pending", "confirmed", "failed"]
    dropped: tuple[OutboxEntry, ...] = ()
    """Oldest entries dropped to stay within `max_entries`."""


def entry_id(notifier: str, alert: Alert, step: int = 0) -> str:
    """An escalation step is one per incident (whichever firing of it arrives first)."""
    if step:
        return f"{notifier}|{incident_of(alert)}|escalate-{step}"
    return f"{notifier}|{alert.id}"


def incident_of(alert: Alert) -> str:
    """Every notification of one incident (firing, reminders, resolved) shares it; the same
    value as the alert history's `incident_key`."""
    return f"{alert.rule}|{alert.key}|{alert.incident}"


def delivered_hash(id: str) -> str:
    """A compact, fixed-size stand-in for an entry id (72 bits of SHA-256, 12 characters):
    small enough to publish thousands on a Lease annotation, collisions negligible."""
    return base64.urlsafe_b64encode(hashlib.sha256(id.encode("utf-8")).digest()[:9]).decode("ascii")


@dataclass(frozen=True, slots=True)
class KnownDelivered:
    """Entry ids another process (the previous leader) is known to have delivered: full ids
    (from the alert history) or their `delivered_hash`es (from the Lease)."""
    ids: frozenset[str] = frozenset()
    hashes: frozenset[str] = frozenset()

    def __contains__(self, id: object) -> bool:
        return isinstance(id, str) and (id in self.ids or (bool(self.hashes)
                                                           and delivered_hash(id) in self.hashes))

    def __len__(self) -> int:
        return len(self.ids) + len(self.hashes)


def file_name(entry: OutboxEntry) -> str:
    return f"{entry.seq:012d}-{hashlib.sha256(entry.id.encode()).hexdigest()[:20]}.json"


def mark_doc(id: str, mark: Settled) -> dict[str, Any]:
    doc: dict[str, Any] = {"id": id, "t": mark.t}
    if mark.notifier:
        doc.update(n=mark.notifier, g=mark.group, i=mark.incident, s=mark.status)
    if mark.result != "sent":
        doc["r"] = mark.result
    if mark.code:
        doc["c"] = mark.code
    return doc


def mark_of(doc: dict[str, Any]) -> Settled:
    """A log line; one written before grouping has only "id" and "t"."""
    return Settled(float(doc["t"]), str(doc.get("n", "")), str(doc.get("g", "")),
                   str(doc.get("i", "")), str(doc.get("s", "")), str(doc.get("r", "sent")),
                   str(doc.get("c", "")))


def entry_doc(entry: OutboxEntry) -> dict[str, Any]:
    doc = {"v": 1, "id": entry.id, "notifier": entry.notifier, "seq": entry.seq,
           "enqueued_at": entry.enqueued_at.isoformat(), "alert": entry.alert.to_dict()}
    if entry.not_before is not None:
        doc["not_before"] = entry.not_before.isoformat()
    if entry.group:
        doc["group"] = entry.group
    if entry.step:
        doc["step"] = entry.step
    if entry.reported:
        doc["reported"] = entry.reported
    return doc


def dump_entry(entry: OutboxEntry) -> bytes:
    return orjson.dumps(entry_doc(entry), default=str)


def load_entry(data: bytes, seq: int | None = None) -> OutboxEntry:
    doc = orjson.loads(data)
    not_before = doc.get("not_before")
    return OutboxEntry(id=doc["id"], notifier=doc["notifier"],
                       alert=Alert.from_dict(doc["alert"]),
                       seq=int(doc["seq"]) if seq is None else seq,
                       enqueued_at=datetime.fromisoformat(doc["enqueued_at"]),
                       not_before=datetime.fromisoformat(not_before) if not_before else None,
                       group=str(doc.get("group") or ""), step=int(doc.get("step") or 0),
                       reported=str(doc.get("reported") or ""))
