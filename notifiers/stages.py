"""The stages an outbox entry passes when it is due, before it is sent: inhibited? → silenced?
→ send (Alertmanager's InhibitStage and SilenceStage, judged at due time, not at submit, so a
silence added or expired meanwhile counts). `judge` is pure; the worker applies its verdict:

  inhibited (an active source alert inhibits it)   settle `inhibited`, code = the source's id
  resolved whose firing was settled unsent          settle the same way (`silenced`/`inhibited`):
                                                    nobody was told it fired
  silenced firing                                   hold until the silence ends, re-judged at least
                                                    every 30 s (silences are expired early and added);
                                                    reported `silenced` once (code = silence id); settled
                                                    `silenced` once its incident resolved (seen by the
                                                    dispatcher, even where no 【恢复】 is sent)
  silenced resolved, its firing was sent            send (the group was told it fired)
  silenced resolved, its firing was not sent        settle `silenced`, and the incident's held
                                                    firings with it ("resolved while silenced")
  silenced / inhibited escalation step              settle: an escalation is only for an open,
                                                    unsilenced, uninhibited incident
  otherwise                                         send; a source that inhibited n alerts is sent
                                                    with fields["inhibited"] = n (the card says so)

The silences and the inhibitor are described here by the API their models offer
(notifiers/silences.py, notifiers/inhibition.py), as Protocols, so this file needs neither.
"""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Literal, Mapping, Protocol, Sequence

from rules.alert import Alert

from .outbox import Outbox, OutboxEntry, Settled
from .outcome import OutcomeResult
from .redact import protect_logger, redact

log: logging.Logger = protect_logger("kea.notifiers.stages")

RECHECK = timedelta(seconds=30)
"""A silenced firing is judged again at least this often."""
MAX_RESOLVED = 50_000
"""Resolved incidents remembered for judging their held firings."""


class Silence(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def ends_at(self) -> datetime: ...


class Silences(Protocol):
    def silencing(self, alert: Alert, now: datetime) -> Silence | None: ...


SilenceProvider = Callable[[], Silences]
"""Returns the current silences (an immutable snapshot; the store refreshes it)."""


class Inhibitor(Protocol):
    def observe(self, alert: Alert) -> None: ...

    def look_ahead(self, alert: Alert) -> timedelta: ...

    def inhibitor_of(self, alert: Alert, now: datetime) -> Alert | None: ...

    def inhibited_count(self, source: Alert) -> int: ...

    def note(self, source: Alert, target: Alert) -> None: ...


class Guarded:
    """An inhibitor shared by the submitting thread and every worker: one call at a time."""

    def __init__(self, inhibitor: Inhibitor) -> None:
        self._inner, self._lock = inhibitor, threading.Lock()

    def observe(self, alert: Alert) -> None:
        with self._lock:
            self._inner.observe(alert)

    def look_ahead(self, alert: Alert) -> timedelta:
        with self._lock:
            return self._inner.look_ahead(alert)

    def inhibitor_of(self, alert: Alert, now: datetime) -> Alert | None:
        with self._lock:
            return self._inner.inhibitor_of(alert, now)

    def inhibited_count(self, source: Alert) -> int:
        with self._lock:
            return self._inner.inhibited_count(source)

    def note(self, source: Alert, target: Alert) -> None:
        with self._lock:
            self._inner.note(source, target)


@dataclass(frozen=True, slots=True)
class Verdict:
    action: Literal["send", "hold", "settle"]
    result: OutcomeResult | None = None
    """settle: the outcome; hold: the outcome reported once (None: nothing to report)."""
    code: str = ""
    detail: str = ""
    until: datetime | None = None
    """hold: judge again then."""
    source: Alert | None = None
    """inhibited: the inhibiting alert (the worker tells the inhibitor: `note`)."""
    also: tuple[str, ...] = ()
    """Other entries (this incident's held firings) settled `silenced` with this one."""
    fields: Mapping[str, Any] = field(default_factory=dict)
    """send: set on the copy of the alert that is composed."""


@dataclass(frozen=True, slots=True)
class Facts:
    """What the outbox knows about the entry's incident at its notifier."""

    firing: Settled | None = None
    """How the incident's latest settled firing was settled (sent, silenced, inhibited)."""
    held_firings: tuple[str, ...] = ()
    """Ids of the incident's firing entries still pending for this notifier."""
    resolved: bool = False
    """The dispatcher was given the incident's resolved alert (since this process started)."""


def judge(entry: OutboxEntry, now: datetime, *, silences: Silences | None,
          inhibitor: Inhibitor | None, facts: Facts = Facts()) -> Verdict:
    """The verdict for one due entry; see the module docstring for the table."""
    alert = entry.alert
    source = inhibitor.inhibitor_of(alert, now) if inhibitor is not None else None
    if source is not None:
        return Verdict("settle", "inhibited", source.id, f"inhibited by {source.id}", source=source)
    if alert.status == "resolved" and facts.firing is not None and facts.firing.result in ("silenced", "inhibited"):
        return Verdict("settle", "silenced" if facts.firing.result == "silenced" else "inhibited",
                       facts.firing.code or "firing_not_sent",
                       f"its firing was {facts.firing.result} ({facts.firing.code or 'no id kept'}), not sent",
                       also=facts.held_firings)
    silence = silences.silencing(alert, now) if silences is not None else None
    if silence is not None:
        return _silenced(entry, silence, now, facts, inhibitor)
    return Verdict("send", fields=_source_fields(alert, inhibitor))


def _silenced(entry: OutboxEntry, silence: Silence, now: datetime, facts: Facts,
              inhibitor: Inhibitor | None) -> Verdict:
    why = f"silenced by {silence.id} until {silence.ends_at.isoformat()}"
    if entry.step:
        return Verdict("settle", "silenced", silence.id, f"escalation step {entry.step} {why}")
    if entry.alert.status == "firing" and facts.resolved:
        return Verdict("settle", "silenced", silence.id, f"resolved while {why}")
    if entry.alert.status == "firing":
        return Verdict("hold", "silenced", silence.id, why, until=min(silence.ends_at, now + RECHECK))
    if facts.firing is not None and facts.firing.result == "sent":
        return Verdict("send", also=facts.held_firings, fields=_source_fields(entry.alert, inhibitor))
    return Verdict("settle", "silenced", silence.id, f"resolved while {why}", also=facts.held_firings)


def _source_fields(alert: Alert, inhibitor: Inhibitor | None) -> dict[str, Any]:
    count = inhibitor.inhibited_count(alert) if inhibitor is not None and alert.status == "firing" else 0
    return {"inhibited": count} if count else {}


class Judge:
    """Binds `judge` to the dispatcher's outbox, silences and inhibitor (one per dispatcher,
    used by every worker)."""

    def __init__(self, *, outbox: Outbox, silences: SilenceProvider | None = None,
                 inhibitor: Inhibitor | None = None) -> None:
        self.outbox, self.silences, self.inhibitor = outbox, silences, inhibitor
        self._failing = False
        self._resolved: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def note_resolved(self, incident: str) -> None:
        """The dispatcher was given this incident's resolved alert (remembered, bounded)."""
        with self._lock:
            self._resolved[incident] = None
            self._resolved.move_to_end(incident)
            if len(self._resolved) > MAX_RESOLVED:
                self._resolved.popitem(last=False)

    def verdicts(self, entries: Sequence[OutboxEntry], now: datetime) -> list[Verdict]:
        snapshot = self._snapshot()
        return [judge(e, now, silences=snapshot, inhibitor=self.inhibitor, facts=self._facts(e)) for e in entries]

    def _facts(self, entry: OutboxEntry) -> Facts:
        if entry.alert.status != "resolved":
            with self._lock:
                return Facts(resolved=entry.incident in self._resolved)
        held = tuple(e.id for e in self.outbox.of_incident(entry.incident)
                     if e.notifier == entry.notifier and e.step == 0 and e.alert.status == "firing")
        return Facts(self.outbox.firing_settled(entry.notifier, entry.incident), held)

    def _snapshot(self) -> Silences | None:
        if self.silences is None:
            return None
        try:
            snapshot = self.silences()
        except Exception as e:  # a broken store must not stop deliveries: judged unsilenced
            if not self._failing:  # logged when it starts failing, not on every entry
                log.error("silences unavailable (%s): alerts are judged as not silenced", redact(e))
            self._failing = True
            return None
        if self._failing:
            log.warning("silences available again")
        self._failing = False
        return snapshot
