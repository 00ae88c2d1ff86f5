"""What a rule reload does to open incidents.

An unchanged rule keeps everything. A rule whose detector spec is unchanged keeps its detector's
memory and incidents. A rule whose detector changed would otherwise re-announce an ongoing outage
under a new id and never resolve the first; instead:
  - instant detectors (`any`, `oom_killed`): open incidents (fold windows) are carried over;
  - `endpoints_unhealthy`: every Service is judged again from the shared cluster state with the new
    detector: a firing incident still unhealthy stays firing (no second message), one that is
    healthy under the new detector resolves, and unhealthy Services it did not know are primed;
  - other condition detectors (`frequency`): their counts are gone, so firing incidents resolve.
A removed rule's firing incidents resolve. A new rule is primed from the current state, as the
first LIST primes rules at start-up: a condition that already held is not announced.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Optional, Sequence

from rules.alert import Alert
from rules.state_detectors import EndpointsUnhealthyDetector
from rules.incidents import Incident
from rules.rule import Rule

if TYPE_CHECKING:
    from rules.engine import Engine


@dataclass
class Plan:
    rules: list[Rule]
    """The rule set to install, with kept detectors."""
    how: dict[str, str] = field(default_factory=dict)
    """Rule name -> `unchanged`, `updated`, `new` or `removed`."""
    old: dict[str, Rule] = field(default_factory=dict)
    """The rules as they ran before the reload."""


def plan(running: Sequence[Rule], loaded: Sequence[Rule]) -> Plan:
    old = {r.name: r for r in running}
    out = Plan(rules=[], old=old)
    for rule in loaded:
        prev = old.get(rule.name)
        if prev is not None and prev.fingerprint == rule.fingerprint:
            out.rules.append(prev)
            out.how[rule.name] = "unchanged"
        elif prev is not None and prev.detector_fingerprint == rule.detector_fingerprint:
            out.rules.append(replace(rule, detector=prev.detector))
            out.how[rule.name] = "updated"
        else:
            out.rules.append(rule)
            out.how[rule.name] = "new"
    for name in old.keys() - out.how.keys():
        out.how[name] = "removed"
    return out


def carry_over(engine: "Engine", rule: Rule, old: dict[str, Incident], prev: Optional[Rule],
               now: datetime) -> tuple[dict[str, Incident], list[Alert]]:
    """Incidents for a new or changed `rule`: (incidents to keep by key, alerts to send)."""
    if rule.detector.instant:
        if prev is not None and prev.detector.instant:
            return dict(old), []
        return {}, resolve_all(engine, prev, old, now)
    if isinstance(rule.detector, EndpointsUnhealthyDetector):  # the one that can judge from the state
        return _rejudge_services(engine, rule, rule.detector, old, prev, now)
    return {}, resolve_all(engine, prev, old, now)


def resolve_all(engine: "Engine", rule: Optional[Rule], incidents: dict[str, Incident],
                now: datetime) -> list[Alert]:
    """Resolved alerts for the firing incidents of a rule that no longer judges them."""
    if rule is None or not rule.send_resolved:
        return []
    return [engine.alert_for(rule, inc, "resolved", now) for inc in incidents.values() if inc.state == "firing"]


def _rejudge_services(engine: "Engine", rule: Rule, detector: EndpointsUnhealthyDetector, old: dict[str, Incident],
                      prev: Optional[Rule], now: datetime) -> tuple[dict[str, Incident], list[Alert]]:
    kept: dict[str, Incident] = {}
    resolved: list[Alert] = []
    judged: set[str] = set()
    for svc, record in engine.state.services.latest():
        if record.source != rule.source or not rule.matches(record):
            continue
        views = rule.matching_views(engine.views_of(record))
        if not views:
            continue
        det = detector.judge(rule, record, views[0], svc, now, engine.ctx)
        judged.add(det.key)
        inc = old.get(det.key)
        if det.active and inc is not None and inc.state == "firing":
            inc.detection, inc.stale = det, False
            kept[det.key] = inc
        elif det.active:
            kept[det.key] = Incident(detection=det, incident=det.incident, state="primed", started_at=det.at,
                                     since=now, count=det.count, primed_level=det.level)
        elif inc is not None and inc.state == "firing" and prev is not None and prev.send_resolved:
            inc.detection = det
            resolved.append(engine.alert_for(prev, inc, "resolved", now))
    gone = {k: inc for k, inc in old.items() if k not in judged}
    resolved.extend(resolve_all(engine, prev, gone, now))
    return kept, resolved
