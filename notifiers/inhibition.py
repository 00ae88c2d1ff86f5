"""Inhibition: an alert that explains others keeps them from being sent, so one outage arrives
as one card (issue 11) instead of an OOM card, an unhealthy card and a node card for one cause.

Alertmanager's `inhibit_rules`, in the project's terms. A rule has `source_matchers`,
`target_matchers` and `equal`: a firing alert matching the source matchers (a *source*)
inhibits an alert matching the target matchers (a *target*) when, for every `equal` item, the
target's values are among the source's. Items compare alert fields (`namespace`, `labels.team`,
`fields.cause.workload`, ...; one value each, a missing one is the empty string, as in
Alertmanager), a `{source: a, target: b}` pair when the two sides name the fact differently,
and `node`: the nodes an alert is about (a pod's node, the nodes of a Service's unhealthy
endpoints, the Node of a Node Event), all of which must be covered by sources (by several,
when a Service's endpoints sit on several NotReady nodes). An alert never inhibits its own
incident, and an alert that matches both sides is not inhibited by a source that does too.

Two additions for one card per outage, where the source may come after the target: a target
waits `look_ahead` before it is judged ("within a few minutes either way"), and a source's own
card waits `source_wait` so that it can say how many it inhibited. A source inhibits while it
fires, at most `for` after its newest firing (instant alerts such as a NodeNotReady Event never
resolve); a resolved source stops inhibiting at once. A resolved target is judged as its
incident's firing was (a Service evicted off a NotReady node resolves with no unhealthy endpoint
left), so the 【恢复】 of an inhibited alert is inhibited too. A source's count (`inhibited_count`)
holds the targets the stage settled (`note`) and those it covered when they were observed: the
stage may judge a waiting source card in the same pass as its targets. Pure: no I/O, the time
is passed in; the dispatcher and its stage call `observe`, `look_ahead`, `inhibitor_of`, `note`.

What must outlive a restart (an OOM held for its look-ahead is judged after it, against a source
that fired before) is `state()`: the firing sources, when source incidents resolved, and the
counts of the sources still remembered; `restore(state)` takes it back (watcher/inhibition_state.py
keeps it in data_dir), and `replace_rules` re-files the sources under a reloaded rule set.
`changes` counts what altered that state, so a keeper writes only when it changed. The newest
firing of each target incident is not kept: after a restart a resolved target whose firing was
inhibited is settled by what the outbox recorded for that firing (stages.py).
"""
from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Sequence

from rules.alert import Alert

from .inhibit_rules import Equal, InhibitRule, InhibitRulesError, alert_nodes, parse_inhibit_rules, values_of

__all__ = ["Equal", "InhibitRule", "InhibitRulesError", "Inhibitor", "alert_nodes", "parse_inhibit_rules", "values_of"]

log = logging.getLogger(__name__)

MAX_SOURCES = 20_000
"""Firing sources remembered per rule; past it the oldest is forgotten (counted, logged)."""
MAX_NOTED = 20_000
"""Sources whose inhibited targets are counted; past it the oldest count is forgotten."""
STATE_VERSION = 1


def _incident(alert: Alert) -> tuple[str, str]:
    return (alert.rule, alert.key)


def _occurrence(alert: Alert) -> str:
    return f"{alert.rule}|{alert.key}|{alert.incident or alert.sequence}"


@dataclass(slots=True)
class _Source:
    alert: Alert
    last_fired: datetime


class Inhibitor:
    """Remembers the firing sources of each rule and judges targets against them."""

    def __init__(self, rules: Sequence[InhibitRule]) -> None:
        self.rules = tuple(rules)
        self._sources: list[OrderedDict[tuple[str, str], _Source]] = [OrderedDict() for _ in self.rules]
        self._resolved: OrderedDict[tuple[str, str], datetime] = OrderedDict()
        """When each source incident last resolved: an older firing seen later (a replayed or
        retried copy) must not revive it."""
        self._noted: OrderedDict[str, set[str]] = OrderedDict()
        self._firings: OrderedDict[tuple[str, str], Alert] = OrderedDict()
        """The newest firing of each target incident: its resolved is judged as it was (a
        resolved Service has no unhealthy endpoints left, so no nodes to be covered on)."""
        self.forgotten = 0
        """Sources forgotten because a rule had `MAX_SOURCES` (a metric reads it)."""
        self.changes = 0
        """Bumped whenever `state()` would say something new (a keeper saves then)."""

    def observe(self, alert: Alert) -> None:
        """Every alert the dispatcher is given, firing or resolved, before routing. A firing
        target that a source covers already is counted for that source now: the stage may
        judge both in one pass, the source's card first."""
        ident = _incident(alert)
        for rule, sources in zip(self.rules, self._sources):
            if not rule.is_source(alert):
                continue
            if alert.status == "resolved":
                self._resolve(sources, ident, alert)
            elif alert.at > self._resolved.get(ident, alert.at - timedelta(1)):
                self._remember(sources, ident, alert)
        if alert.status == "firing" and any(r.is_target(alert) for r in self.rules):
            self._firings[ident] = alert
            self._firings.move_to_end(ident)
            if len(self._firings) > MAX_SOURCES:
                self._firings.popitem(last=False)
            source = self.inhibitor_of(alert, alert.at)
            if source is not None:
                self.note(source, alert)

    def _resolve(self, sources: OrderedDict[tuple[str, str], _Source], ident: tuple[str, str],
                 alert: Alert) -> None:
        known = sources.get(ident)
        if known is not None and known.alert.at <= alert.at:
            del sources[ident]
        self.changes += 1
        self._resolved[ident] = max(alert.at, self._resolved.get(ident, alert.at))
        self._resolved.move_to_end(ident)
        if len(self._resolved) > MAX_SOURCES:
            self._resolved.popitem(last=False)

    def _remember(self, sources: OrderedDict[tuple[str, str], _Source], ident: tuple[str, str],
                  alert: Alert) -> None:
        known = sources.get(ident)
        if known is not None and known.alert.at > alert.at:
            return  # an older copy (a replay, a retry): the newer one stands
        sources[ident] = _Source(alert, alert.at)
        sources.move_to_end(ident)
        self.changes += 1
        if len(sources) > MAX_SOURCES:
            (rule, key), _ = sources.popitem(last=False)
            self.forgotten += 1
            log.warning("inhibition: forgot the oldest source %s %s (more than %d firing)", rule, key, MAX_SOURCES)

    def look_ahead(self, alert: Alert) -> timedelta:
        """How long a firing `alert` should wait before it is judged: for a source that may
        follow (it is a target), or so its card can count what it inhibits (it is a source).
        Zero when no rule concerns it, for a resolved alert, and for one that a source already
        inhibits (judged at once, it counts on that source's card, which may be waiting)."""
        if alert.status != "firing" or self.inhibitor_of(alert, alert.at) is not None:
            return timedelta(0)
        waits = [r.look_ahead for r in self.rules if r.look_ahead and r.is_target(alert)]
        waits += [r.source_wait for r in self.rules if r.source_wait and r.is_source(alert)]
        return max(waits, default=timedelta(0))

    def inhibitor_of(self, alert: Alert, now: datetime) -> Alert | None:
        """The active source alert that inhibits `alert` at `now` (the first rule that does).
        A resolved is judged as its incident's firing was: inhibited while that would be."""
        if alert.status == "resolved":
            firing = self._firings.get(_incident(alert))
            alert = firing if firing is not None and firing.incident == alert.incident else alert
        for rule, sources in zip(self.rules, self._sources):
            if not rule.is_target(alert):
                continue
            found = self._covering(rule, sources, alert, now)
            if found is not None:
                return found
        return None

    def _covering(self, rule: InhibitRule, sources: OrderedDict[tuple[str, str], _Source], alert: Alert,
                  now: datetime) -> Alert | None:
        self._expire(rule, sources, now)
        both = rule.is_source(alert)
        ident = _incident(alert)
        candidates = [s.alert for i, s in sources.items() if i != ident and not (both and rule.is_target(s.alert))]
        return rule.covering(alert, candidates)

    @staticmethod
    def _expire(rule: InhibitRule, sources: OrderedDict[tuple[str, str], _Source], now: datetime) -> None:
        if rule.for_ is None:
            return
        stale = [i for i, s in sources.items() if now >= s.last_fired + rule.for_]
        for ident in stale:
            del sources[ident]

    def note(self, source: Alert, target: Alert) -> None:
        """The stage settled `target` as inhibited by `source` (counted once per incident)."""
        key = _occurrence(source)
        noted = self._noted.setdefault(key, set())
        if _occurrence(target) not in noted:
            self.changes += 1
        noted.add(_occurrence(target))
        self._noted.move_to_end(key)
        if len(self._noted) > MAX_NOTED:
            self._noted.popitem(last=False)

    def inhibited_count(self, source: Alert) -> int:
        """Targets inhibited by this source's incident so far."""
        return len(self._noted.get(_occurrence(source), ()))

    def held(self) -> int:
        """Firing sources remembered now (each incident once; `for` expiry applies when judged)."""
        return len({i for sources in self._sources for i in sources})

    def state(self) -> dict[str, Any]:
        """What a restart must not lose, JSON-ready: the firing sources (each once, whichever
        rules it is a source of), when source incidents resolved, and the remembered sources'
        counts."""
        firing: dict[tuple[str, str], Alert] = {}
        for sources in self._sources:
            for ident, s in sources.items():
                firing[ident] = s.alert
        remembered = {_occurrence(a) for a in firing.values()}
        return {"v": STATE_VERSION,
                "sources": [a.to_dict() for a in firing.values()],
                "resolved": [[rule, key, at.isoformat()] for (rule, key), at in self._resolved.items()],
                "noted": {k: sorted(v) for k, v in self._noted.items() if k in remembered}}

    def restore(self, state: Any) -> int:
        """Take back a `state()` (of this or an earlier rule set: each source is filed under the
        rules it is a source of now). Returns the sources restored; ValueError if malformed."""
        if not isinstance(state, dict) or state.get("v") != STATE_VERSION:
            raise ValueError(f"not an inhibition state of version {STATE_VERSION}")
        try:
            for rule, key, at in state.get("resolved") or ():
                self._resolved[(str(rule), str(key))] = datetime.fromisoformat(at)
            for occurrence, targets in (state.get("noted") or {}).items():
                self._noted[str(occurrence)] = {str(t) for t in targets}
            alerts = [Alert.from_dict(d) for d in state.get("sources") or ()]
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise ValueError(f"malformed inhibition state: {exc.__class__.__name__}: {exc}") from exc
        return sum(self._file(alert) for alert in alerts)

    def _file(self, alert: Alert) -> bool:
        """Remember a source under every rule it is a source of; False when it is of none."""
        filed = [s for r, s in zip(self.rules, self._sources) if r.is_source(alert)]
        for sources in filed:
            self._remember(sources, _incident(alert), alert)
        return bool(filed)

    def replace_rules(self, rules: Sequence[InhibitRule]) -> None:
        """A reloaded rule set (e.g. a new look-ahead): the sources, resolved times and counts
        stay, the sources filed under the new rules."""
        alerts = {i: s.alert for sources in self._sources for i, s in sources.items()}
        self.rules = tuple(rules)
        self._sources = [OrderedDict() for _ in self.rules]
        for alert in alerts.values():
            self._file(alert)
        self.changes += 1
