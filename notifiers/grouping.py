"""Alertmanager's grouping timers, per (notifier, group), as holds on outbox entries.

A route's match names the alert's group (routes.RouteMatch.group_key). When an entry of a group
is written, it gets `not_before`:
  the group has entries still held      → theirs (it joins them: they go out as one message)
  the group has due entries pending     → now + group_interval (they are being flushed now)
  the group was last sent at F          → F + group_interval, or at once if that has passed
  a new group (nothing pending or sent) → now + group_wait (at once when group_wait is 0)
Unset options are 0, which is the behaviour before grouping: nothing waits. "Last sent" comes
from the outbox's log (it survives restarts, within its retention); so does a hold (it is on
the entry). A firing reminder (sequence > 1) to a route with `repeat_interval` R is skipped
(outcome `skipped`, code `repeat_interval`) when this incident's firing went to that notifier
less than R ago, or one of its notifications is still pending there: the rule's own
`repeat_interval` makes the reminders, the route's only thins them out.

`plan` makes the entries of one alert for one notifier: its own, held for its group (and for
an inhibition look-ahead), and for a firing one per `escalate` step and robot, due at the
incident's start + `after`. `paged_resolved` makes the resolved's entries for the robots an
escalation step was sent to (the on-call SRE needs the all-clear too), once: its id is the
resolved's own. Pure but for reading the outbox; the caller passes in the time.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Collection, Container, NamedTuple, Sequence

from rules.alert import Alert

from .outbox import Outbox, OutboxEntry, Settled, entry_id, incident_of
from .routes import RouteMatch

_ZERO = timedelta(0)


class Write(NamedTuple):
    """One outbox entry to write (kept in memory as this while the outbox cannot be written)."""
    name: str
    alert: Alert
    not_before: datetime | None = None
    group: str = ""
    step: int = 0

    @property
    def id(self) -> str:
        return entry_id(self.name, self.alert, self.step)


@dataclass(frozen=True, slots=True)
class Timing:
    wait: timedelta = _ZERO
    interval: timedelta = _ZERO
    repeat: timedelta | None = None

    @classmethod
    def of(cls, match: RouteMatch) -> "Timing":
        return cls(match.group_wait or _ZERO, match.group_interval or _ZERO, match.repeat_interval)


def hold_until(now: datetime, timing: Timing, *, pending: Sequence[OutboxEntry],
               flushed: datetime | None) -> datetime | None:
    """When a new entry of a group is due (None: at once); see the module docstring."""
    waiting = [e.not_before for e in pending if e.not_before is not None and e.not_before > now]
    if waiting:
        return min(waiting)
    if pending:  # due, so being flushed now (or waiting for the robot): the next flush's turn
        return now + timing.interval if timing.interval > _ZERO else None
    if flushed is not None:
        due = flushed + timing.interval
        return due if due > now else None
    return now + timing.wait if timing.wait > _ZERO else None


def reminder_too_soon(alert: Alert, timing: Timing, now: datetime, *, last_firing: Settled | None,
                      pending: Sequence[OutboxEntry]) -> str:
    """Why a firing reminder is not sent to this notifier now ("" : it is)."""
    if timing.repeat is None or alert.status != "firing" or alert.sequence <= 1:
        return ""
    if any(e.step == 0 for e in pending):
        return "a notification of this incident is still queued for this notifier"
    if last_firing is not None and last_firing.result == "sent":
        ago = now.timestamp() - last_firing.t
        if ago < timing.repeat.total_seconds():
            return (f"repeat_interval {_seconds(timing.repeat)}: last sent {ago:.0f} s ago")
    return ""


def _seconds(d: timedelta) -> str:
    return f"{d.total_seconds():.0f} s"


@dataclass(frozen=True, slots=True)
class Plan:
    writes: list[Write]
    skipped: str = ""
    """Why nothing is written (a reminder the route's `repeat_interval` thins out)."""
    extend: tuple[str, ...] = ()
    """Held entries of the group that now wait for this one's look-ahead too (re-held to its
    `not_before`), so a group stays one message."""


def plan(name: str, alert: Alert, match: RouteMatch, now: datetime, *, outbox: Outbox,
         look_ahead: timedelta, robots: Collection[str]) -> Plan:
    """The entries to write for `alert` to notifier `name`. An inhibition look-ahead that ends
    after its group's hold holds the group as long, unless the group would then wait more than
    `group_wait` + that look-ahead after its first alert (then this one goes out after it)."""
    timing, group, incident = Timing.of(match), match.group_key(alert), incident_of(alert)
    mine = [e for e in outbox.of_incident(incident) if e.notifier == name]
    too_soon = reminder_too_soon(alert, timing, now, pending=mine, last_firing=outbox.firing_settled(name, incident))
    if too_soon:
        return Plan([], too_soon)
    pending = outbox.in_group(name, group)
    not_before = hold_until(now, timing, pending=pending, flushed=outbox.group_flushed(name, group))
    extend: tuple[str, ...] = ()
    judged = alert.at + look_ahead
    if alert.status == "firing" and look_ahead > _ZERO and judged > now and (not_before is None or judged > not_before):
        extend = _held_with(judged, pending, now, timing.wait + look_ahead)
        not_before = judged
    writes = [Write(name, alert, not_before, group)]
    if alert.status == "firing":
        writes += _escalation_steps(alert, match, group, robots)
    return Plan(writes, extend=extend)


def _held_with(judged: datetime, pending: Sequence[OutboxEntry], now: datetime, longest: timedelta) -> tuple[str, ...]:
    """The group's held entries that wait until `judged` too, unless the group would then have
    waited longer than `longest` since its first one."""
    held = [e for e in pending if e.not_before is not None and e.not_before > now]
    if held and judged - min(e.enqueued_at for e in held) <= longest:
        return tuple(e.id for e in held)
    return ()


def _escalation_steps(alert: Alert, match: RouteMatch, group: str, robots: Collection[str]) -> list[Write]:
    """A held entry per `escalate` step and robot, due at the incident's start + `after`."""
    return [Write(robot, alert, alert.started_at + escalation.after, f"{group} | escalate {step}", step)
            for step, escalation in enumerate(match.escalate, start=1)
            for robot in escalation.notify if robot in robots]


def paged_resolved(alert: Alert, *, outbox: Outbox, robots: Collection[str], routed: Collection[str],
                   matches: Sequence[RouteMatch] = (), known: Container[str] = frozenset()) -> list[Write]:
    """The entries of a resolved `alert` for the robots (not already `routed` to) that one of
    its incident's escalation steps paged: here (this outbox's log says the step was sent), or
    by the previous leader (the step's entry id is in `known`, what that leader delivered: after
    a failover this log has the step only as skipped). Steps settled unsent (resolved before
    they were due, silenced, inhibited) page nobody, so get nothing."""
    if alert.status != "resolved":
        return []
    incident = incident_of(alert)
    elsewhere = {robot: f"{m.group_key(alert)} | escalate {step}"
                 for m in matches for step, escalation in enumerate(m.escalate, start=1)
                 for robot in escalation.notify if entry_id(robot, alert, step) in known}
    writes = []
    for robot in robots:
        if robot in routed:
            continue
        mark = outbox.firing_settled(robot, incident)
        if mark is not None and mark.status == "escalation" and mark.result == "sent":
            writes.append(Write(robot, alert, None, mark.group))
        elif robot in elsewhere:
            writes.append(Write(robot, alert, None, elsewhere[robot]))
    return writes
