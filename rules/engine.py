"""The rules engine: `process(record, now)` and `tick(now)` return alert changes.

Pure: no I/O and no clock; state lives in this object and can be listed (`open_incidents`) and
restored (`restore`) so a restarted daemon or a new leader neither forgets nor repeats.

An incident moves through these states, per rule and key:
    instant detectors:   (detection) → firing → [resolved after `resolve_after` quiet] → gone
    condition detectors: pending → firing (after `for`) → resolved (condition false) → gone
                         primed: the condition already held in the start-up list; never fires
                         unless it gets worse, never resolves out loud.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Iterable, Sequence

from rules.alert import Alert
from rules.context import Context
from rules.deadlines import Deadlines
from rules.match import as_text
from rules.detectors import Detection
from rules.model import Record
from rules.rule import Rule
from rules.views import views as record_views

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(slots=True)
class Incident:
    detection: Detection
    incident: str
    state: str
    """`pending`, `firing` or `primed`."""
    started_at: datetime
    since: datetime
    """When the engine first saw the condition (its clock), for `for`."""
    count: int = 1
    sequence: int = 0
    notified_at: datetime | None = None
    last_seen: datetime | None = None
    primed_level: int = 0
    extra: dict = field(default_factory=dict)


class Engine:
    def __init__(self, rules: Sequence[Rule], *, stale_before: datetime | None = None) -> None:
        """`stale_before`: occurrences older than this are history and never fire (the daemon's
        start, or the first record's time in a replay). Unset: nothing counts as history."""
        self.ctx = Context(stale_before or _EPOCH)
        self.match_counts: dict[str, int] = {}
        """Records that matched each rule since start (for metrics)."""
        self._incidents: dict[str, dict[str, Incident]] = {}
        self._deadlines: dict[str, Deadlines] = {}
        self._install([r for r in rules if r.enabled])

    def _install(self, rules: list[Rule]) -> None:
        """Make `rules` the running set; state for rule names not seen before starts empty."""
        self.rules = rules
        by_source: dict[str, list[Rule]] = {}
        for r in rules:
            by_source.setdefault(r.source, []).append(r)
        self._by_source = {source: _RuleIndex(group) for source, group in by_source.items()}
        self._incidents = {r.name: self._incidents.get(r.name, {}) for r in rules}
        self._deadlines = {r.name: self._deadlines.get(r.name, Deadlines()) for r in rules}

    @property
    def stale_before(self) -> datetime:
        return self.ctx.stale_before

    @stale_before.setter
    def stale_before(self, value: datetime) -> None:
        self.ctx.stale_before = value

    def process(self, record: Record, now: datetime) -> list[Alert]:
        """Feed one record; returns the alert changes it causes (often none)."""
        ctx = self.ctx
        ctx.begin(record)
        index = self._by_source.get(record.source)
        if index is None:
            return []
        all_views = list(record_views(record))
        out: list[Alert] = []
        no_occurrence = ctx.occurrences <= 0
        counts = self.match_counts
        for rule in index.candidates(all_views):
            detector = rule.detector
            if no_occurrence and detector.counts_occurrences:
                continue
            if not rule.matches(record):
                continue
            matched = rule.matching_views(all_views)
            if not matched:
                continue
            counts[rule.name] = counts.get(rule.name, 0) + 1
            for det in detector.observe(rule, record, matched, now, ctx):
                out.extend(self._apply(rule, det, now, record.listed))
        return out

    def tick(self, now: datetime) -> list[Alert]:
        """Advance time: window expiry, `for` timers, reminders, `resolve_after`."""
        out: list[Alert] = []
        for rule in self.rules:
            for det in rule.detector.expire(rule, now):
                out.extend(self._apply(rule, det, now, False))
            incidents = self._incidents[rule.name]
            for key in self._deadlines[rule.name].pop_due(now):
                inc = incidents.get(key)
                if inc is None:
                    continue
                if rule.detector.instant:
                    out.extend(self._tick_instant(rule, key, inc, now))
                elif inc.state == "pending":
                    out.extend(self._maybe_fire(rule, inc, now))
                elif inc.state == "firing" and rule.repeat_interval and inc.notified_at is not None \
                        and now - inc.notified_at >= rule.repeat_interval:
                    inc.sequence += 1
                    inc.notified_at = now
                    out.append(self._alert(rule, inc, "firing", now))
                if key in incidents:
                    self._schedule(rule, key, inc)
        return out

    def replace_rules(self, rules: Sequence[Rule]) -> dict[str, str]:
        """Swap in a reloaded rule set, keeping what can be kept: an unchanged rule keeps its
        detector and incidents; a rule whose detector spec is unchanged keeps its detector's
        memory and open incidents; a changed or new rule starts empty. Returns name -> how."""
        old = {r.name: r for r in self.rules}
        kept: list[Rule] = []
        how: dict[str, str] = {}
        for rule in (r for r in rules if r.enabled):
            prev = old.get(rule.name)
            if prev is not None and prev.fingerprint == rule.fingerprint:
                kept.append(prev)
                how[rule.name] = "unchanged"
            elif prev is not None and prev.detector_fingerprint == rule.detector_fingerprint:
                kept.append(replace(rule, detector=prev.detector))
                how[rule.name] = "updated"
            else:
                kept.append(rule)
                how[rule.name] = "new"
        for name in (n for n, h in how.items() if h == "new"):
            self._incidents.pop(name, None)
            self._deadlines.pop(name, None)
        self._install(kept)
        for name in old.keys() - how.keys():
            how[name] = "removed"
        return how

    # -- state for restarts and failover -------------------------------------------------------

    def open_incidents(self) -> list[Alert]:
        """The firing incidents, as the alerts that announced them (for persistence)."""
        return [
            self._alert(rule, inc, "firing", inc.notified_at or inc.started_at)
            for rule in self.rules
            for inc in self._incidents[rule.name].values()
            if inc.state == "firing"
        ]

    def restore(self, alerts: Iterable[Alert], now: datetime | None = None) -> int:
        """Re-open incidents that were firing (from the alert history); returns how many.
        A later healthy state then resolves them, and a repeat within the window is folded.
        With `now`, an instant incident (an OOM) whose fold window is over is not restored:
        there is nothing left to fold into it or resolve."""
        by_name = {r.name: r for r in self.rules}
        restored = 0
        for a in alerts:
            rule = by_name.get(a.rule)
            if rule is None or a.status != "firing":
                continue
            if now is not None and rule.detector.instant and not rule.resolve_after \
                    and a.at + rule.repeat_interval <= now:
                continue
            det = Detection(key=a.key, incident=a.incident, at=a.started_at, record=None,  # type: ignore[arg-type]
                            fields=dict(a.fields), summary=a.summary, kind=a.kind, name=a.name)
            self._incidents[rule.name][a.key] = Incident(
                detection=det, incident=a.incident, state="firing", started_at=a.started_at, since=a.started_at,
                count=a.count, sequence=a.sequence, notified_at=a.at, last_seen=a.at,
                extra={"restored": a},
            )
            self._schedule(rule, a.key, self._incidents[rule.name][a.key])
            restored += 1
        return restored

    # -- internals -------------------------------------------------------------------------------

    def _apply(self, rule: Rule, det: Detection, now: datetime, listed: bool) -> list[Alert]:
        out = self._transition(rule, det, now, listed)
        inc = self._incidents[rule.name].get(det.key)
        if inc is None:
            self._deadlines[rule.name].cancel(det.key)
        else:
            self._schedule(rule, det.key, inc)
        return out

    def _transition(self, rule: Rule, det: Detection, now: datetime, listed: bool) -> list[Alert]:
        incidents = self._incidents[rule.name]
        inc = incidents.get(det.key)
        if rule.detector.instant:
            if listed or det.at < self.ctx.stale_before:
                return []
            if inc is not None and self._instant_open(rule, inc, now):
                inc.count += det.count
                inc.last_seen = det.at
                return []
            inc = Incident(detection=det, incident=det.incident, state="firing", started_at=det.at, since=now,
                           count=det.count, sequence=1, notified_at=now, last_seen=det.at)
            incidents[det.key] = inc
            return [self._alert(rule, inc, "firing", det.at)]
        if det.active:
            if inc is None:
                inc = Incident(detection=det, incident=det.incident, state="primed" if listed else "pending",
                               started_at=det.at, since=now, count=det.count, primed_level=det.level)
                incidents[det.key] = inc
                return [] if listed else self._maybe_fire(rule, inc, now)
            inc.detection, inc.count = det, det.count
            if inc.state == "primed" and not listed and det.level > inc.primed_level:
                inc.state, inc.incident, inc.started_at, inc.since = "pending", det.incident, det.at, now
            return self._maybe_fire(rule, inc, now) if inc.state == "pending" else []
        if inc is None:
            return []
        del incidents[det.key]
        if inc.state != "firing" or not rule.send_resolved:
            return []
        inc.detection = _resolving(inc.detection, det)
        return [self._alert(rule, inc, "resolved", det.at if det.at >= inc.started_at else now)]

    def _schedule(self, rule: Rule, key: str, inc: Incident) -> None:
        """When this incident next needs `tick`: a `for` timer, a reminder, a quiet period
        for `resolve_after`, or the end of the fold window (to forget it)."""
        when = None
        if rule.detector.instant:
            if rule.resolve_after and inc.last_seen is not None:
                when = inc.last_seen + rule.resolve_after
            elif inc.notified_at is not None:
                when = inc.notified_at + rule.repeat_interval
        elif inc.state == "pending":
            when = inc.since + rule.for_
        elif inc.state == "firing" and rule.repeat_interval and inc.notified_at is not None:
            when = inc.notified_at + rule.repeat_interval
        if when is None:
            self._deadlines[rule.name].cancel(key)
        else:
            self._deadlines[rule.name].schedule(key, when)

    def _instant_open(self, rule: Rule, inc: Incident, now: datetime) -> bool:
        if rule.resolve_after:
            return True
        return inc.notified_at is not None and now - inc.notified_at < rule.repeat_interval

    def _tick_instant(self, rule: Rule, key: str, inc: Incident, now: datetime) -> list[Alert]:
        if rule.resolve_after:
            if inc.last_seen is not None and now - inc.last_seen >= rule.resolve_after:
                del self._incidents[rule.name][key]
                if rule.send_resolved:
                    return [self._alert(rule, inc, "resolved", now)]
            return []
        if inc.notified_at is None or now - inc.notified_at >= rule.repeat_interval:
            del self._incidents[rule.name][key]  # window over: forget it
        return []

    def _maybe_fire(self, rule: Rule, inc: Incident, now: datetime) -> list[Alert]:
        if now - inc.since < rule.for_:
            return []
        inc.state, inc.sequence, inc.notified_at = "firing", 1, now
        return [self._alert(rule, inc, "firing", inc.started_at)]

    def _alert(self, rule: Rule, inc: Incident, status: str, at: datetime) -> Alert:
        det = inc.detection.materialize()
        restored: Alert | None = inc.extra.get("restored")
        rec = det.record
        if rec is None and restored is not None:
            return _replace_alert(restored, status=status, at=at, count=inc.count, sequence=inc.sequence,
                                  summary=det.summary, fields=det.fields)
        fields = dict(det.fields)
        if rule.detector.instant and inc.count > 1:
            fields["occurrences"] = inc.count
        return Alert(
            rule=rule.name, key=det.key, status=status, severity=rule.severity, sequence=max(inc.sequence, 1),
            started_at=inc.started_at, at=at, count=inc.count, cluster=rec.cluster, namespace=rec.namespace,
            kind=det.kind or rec.kind, name=det.name or rec.name, workload_kind=rec.workload_kind,
            workload_name=rec.workload_name, summary=det.summary, description=rule.description, fields=fields,
            object_labels=rec.labels, object_annotations=rec.annotations, notify=rule.notify,
            templates=rule.templates, incident=inc.incident,
        )


class _RuleIndex:
    """Rules of one source, indexed by the field most of them require to equal a few values
    (for Events: usually `reason`), so a record meets only rules that can match it. Order is
    kept: candidates come back in rule-file order."""

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules
        counts = Counter(f for r in rules for f in r.exact)
        self.field = counts.most_common(1)[0][0] if counts else None
        self.always: list[int] = []
        self.by_value: dict[str, list[int]] = {}
        for i, r in enumerate(rules):
            values = r.exact.get(self.field) if self.field else None
            if values is None:
                self.always.append(i)
            else:
                for v in values:
                    self.by_value.setdefault(v, []).append(i)

    def candidates(self, views: list[dict]) -> list[Rule]:
        if self.field is None:
            return self.rules
        hits: set[int] = set()
        for view in views:
            hits.update(self.by_value.get(as_text(view.get(self.field)), ()))
        if not hits:
            return [self.rules[i] for i in self.always]
        return [self.rules[i] for i in sorted(hits.union(self.always))]


def _resolving(opened: Detection, closing: Detection) -> Detection:
    """The resolved alert tells the current state (2/2 ready) under the incident's identity."""
    if closing.record is None:
        return opened
    closing.key = opened.key
    return closing.materialize()


def _replace_alert(a: Alert, **changes) -> Alert:
    return replace(a, **changes)

