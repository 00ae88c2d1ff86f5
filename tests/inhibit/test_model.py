"""The inhibition model as tables: which source inhibits which target, and for how long."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from notifiers.inhibition import Equal, InhibitRule, Inhibitor, parse_inhibit_rules
from notifiers.routes import parse_matcher
from tests.inhibit.helpers import at, event_on_pod, node_not_ready, oom, resolved, unhealthy


def rule(source: str, target: str, *equal: str, **kw) -> InhibitRule:
    return InhibitRule(source_matchers=(parse_matcher(source),), target_matchers=(parse_matcher(target),),
                       equal=tuple(Equal(e, e) for e in equal), **kw)


def builtin() -> Inhibitor:
    return Inhibitor(parse_inhibit_rules(None, builtin=True))


# -- Alertmanager semantics ---------------------------------------------------------------------

SEMANTICS = [
    # (description, rule, sources, target, inhibited?)
    ("a firing source inhibits a matching target",
     rule("rule=endpoints-unhealthy", "rule=oom-killed", "namespace"), [unhealthy()], oom(), True),
    ("equal must hold",
     rule("rule=endpoints-unhealthy", "rule=oom-killed", "namespace"), [unhealthy(ns="pay")], oom(), False),
    ("no equal: any source inhibits",
     rule("rule=endpoints-unhealthy", "rule=oom-killed"), [unhealthy(ns="pay")], oom(), True),
    ("target matchers must hold",
     rule("rule=endpoints-unhealthy", "rule=image-pull"), [unhealthy()], oom(), False),
    ("a source that resolved inhibits nothing",
     rule("rule=endpoints-unhealthy", "rule=oom-killed"), [unhealthy(), resolved(unhealthy(), 60)], oom(), False),
    ("a resolved seen before a newer firing leaves the firing standing",
     rule("rule=endpoints-unhealthy", "rule=oom-killed"), [resolved(unhealthy(), 10), unhealthy(t=30)], oom(), True),
    ("an older firing (a replayed copy) does not undo a resolved",
     rule("rule=endpoints-unhealthy", "rule=oom-killed"), [unhealthy(t=30), resolved(unhealthy(), 60), unhealthy(t=30)],
     oom(), False),
    ("an alert does not inhibit its own incident",
     rule("severity=critical", "severity=critical"), [oom(t=0)], oom(t=5), False),
    ("both sides matching: not inhibited by a source that also matches both",
     rule("severity=critical", "severity=critical"), [oom("web-2")], oom("web-1"), False),
    ("both sides matching: inhibited by a source that matches only the source side",
     rule("severity=critical", "rule=oom-killed"), [unhealthy()], oom(), True),
    ("a missing label equals a missing label (the empty string)",
     rule("rule=endpoints-unhealthy", "rule=oom-killed", "labels.team"), [unhealthy()], oom(), True),
]


@pytest.mark.parametrize("what, inhibit_rule, sources, target, inhibited", SEMANTICS, ids=[s[0] for s in SEMANTICS])
def test_semantics(what, inhibit_rule, sources, target, inhibited) -> None:
    inhibitor = Inhibitor([inhibit_rule])
    for source in sources:
        inhibitor.observe(source)
    found = inhibitor.inhibitor_of(target, at(100))
    assert (found is not None) is inhibited, what
    if inhibited:
        assert found.status == "firing" and found.id != target.id


def test_for_limits_how_long_a_source_inhibits_after_its_newest_firing() -> None:
    inhibitor = Inhibitor([rule("rule=node-not-ready", "rule=oom-killed", "node", for_=timedelta(minutes=10))])
    inhibitor.observe(node_not_ready(t=0))
    assert inhibitor.inhibitor_of(oom(t=60), at(599)) is not None
    assert inhibitor.inhibitor_of(oom(t=60), at(600)) is None
    inhibitor.observe(node_not_ready(t=700))  # NotReady again: a new firing starts a new `for`
    assert inhibitor.inhibitor_of(oom(t=710), at(1200)) is not None


def test_a_resolved_alert_is_inhibited_like_its_firing() -> None:
    inhibitor = builtin()
    inhibitor.observe(unhealthy())
    assert inhibitor.inhibitor_of(resolved(oom(), 50), at(50)) is not None


# -- the built-ins --------------------------------------------------------------------------------

BUILTIN = [
    ("an unhealthy Service absorbs the OOM of the workload that caused it", [unhealthy()], oom(), True),
    ("... and another replica's OOM of that workload", [unhealthy()], oom("web-2"), True),
    ("not an OOM of another workload", [unhealthy(cause_workload="api")], oom(), False),
    ("not an OOM in another namespace", [unhealthy(ns="pay")], oom(), False),
    ("not when the drop has no known cause", [unhealthy(cause_workload=None)], oom(), False),
    ("a NotReady node absorbs the OOM of a pod on it", [node_not_ready()], oom(), True),
    ("not of a pod on another node", [node_not_ready("node-2")], oom(), False),
    ("a NotReady node absorbs a pod Event from its kubelet", [node_not_ready()], event_on_pod(), True),
    ("a NotReady node absorbs a Service whose unhealthy endpoints are all on it",
     [node_not_ready()], unhealthy(cause_workload=None), True),
    ("not a Service with an unhealthy endpoint on a Ready node",
     [node_not_ready()], unhealthy(cause_workload=None, nodes=("node-1", "node-2")), False),
    ("two NotReady nodes together absorb a Service unhealthy on both",
     [node_not_ready(), node_not_ready("node-2")], unhealthy(cause_workload=None, nodes=("node-1", "node-2")), True),
    ("not a Service whose unhealthy endpoints name no node",
     [node_not_ready()], unhealthy(cause_workload=None, nodes=()), False),
    ("a node alert does not absorb another node's alert", [node_not_ready()], node_not_ready("node-2"), False),
]


@pytest.mark.parametrize("what, sources, target, inhibited", BUILTIN, ids=[b[0] for b in BUILTIN])
def test_builtin(what, sources, target, inhibited) -> None:
    inhibitor = builtin()
    for source in sources:
        inhibitor.observe(source)
    assert (inhibitor.inhibitor_of(target, at(100)) is not None) is inhibited, what


def test_builtin_node_inhibition_ends_after_ten_minutes() -> None:
    inhibitor = builtin()
    inhibitor.observe(node_not_ready(t=0))
    assert inhibitor.inhibitor_of(oom(t=300), at(599)) is not None
    assert inhibitor.inhibitor_of(oom(t=300), at(600)) is None


LOOK_AHEAD = [
    ("an OOM waits the endpoints rule's for + 15 s for a drop it may cause", oom(), timedelta(seconds=45)),
    ("an OOM whose pod backs no Service is sent at once", oom(backs_service=False), timedelta(0)),
    ("an OOM before the engine knows the Services waits: its drop may be in a LIST not yet read",
     oom(backs_service=None), timedelta(seconds=45)),
    ("an OOM whose pod backs a Service waits", oom(backs_service=True), timedelta(seconds=45)),
    ("a node alert waits as long, so its card can count what it inhibited", node_not_ready(), timedelta(seconds=45)),
    ("an alert no rule concerns does not wait", unhealthy(), timedelta(0)),
    ("a resolved never waits", resolved(oom(), 10), timedelta(0)),
]


@pytest.mark.parametrize("what, alert, wait", LOOK_AHEAD, ids=[w[0] for w in LOOK_AHEAD])
def test_look_ahead(what, alert, wait) -> None:
    assert builtin().look_ahead(alert) == wait, what


def test_an_alert_already_inhibited_does_not_wait() -> None:
    """Judged at once, it is counted before the card of its source (which waits) goes out."""
    inhibitor = builtin()
    inhibitor.observe(node_not_ready(t=0))
    assert inhibitor.look_ahead(oom(t=10)) == timedelta(0)
    assert inhibitor.look_ahead(oom(node="node-2", t=10)) == timedelta(seconds=45)


def test_look_ahead_follows_the_endpoints_rules_for() -> None:
    inhibitor = Inhibitor(parse_inhibit_rules(None, builtin=True, endpoints_for=timedelta(minutes=2)))
    assert inhibitor.look_ahead(oom()) == timedelta(seconds=135)


def test_an_oom_before_the_drop_is_inhibited_once_the_drop_fires() -> None:
    """Either way: the OOM comes first, waits, and the endpoints alert arrives meanwhile."""
    inhibitor = builtin()
    target = oom(t=0)
    assert inhibitor.inhibitor_of(target, at(0)) is None
    inhibitor.observe(target)
    inhibitor.observe(unhealthy(t=31))
    assert inhibitor.inhibitor_of(target, at(0) + inhibitor.look_ahead(target)).rule == "endpoints-unhealthy"


def test_a_resolved_is_inhibited_as_its_firing_was() -> None:
    """Evicted from the NotReady node, the pod's endpoint leaves: the Service resolves with no
    unhealthy endpoint, so no node to be covered on; its firing was inhibited, so is it."""
    inhibitor = builtin()
    inhibitor.observe(node_not_ready(t=0))
    firing = unhealthy(cause_workload=None, t=20)
    inhibitor.observe(firing)
    healthy = replace(resolved(firing, 35), fields={**firing.fields, "nodes": [], "unhealthy": 0})
    inhibitor.observe(healthy)
    assert inhibitor.inhibitor_of(healthy, at(36)).rule == "node-not-ready"


def test_a_target_observed_while_covered_counts_before_the_stage_notes_it() -> None:
    """The stage may judge a waiting source and its targets in one pass, the source first."""
    inhibitor = builtin()
    source = node_not_ready(t=0)
    inhibitor.observe(source)
    inhibitor.observe(unhealthy(cause_workload=None, t=20))
    inhibitor.observe(oom(node="node-2", t=21))  # not on that node
    assert inhibitor.inhibited_count(source) == 1


def test_inhibited_count_counts_each_target_incident_once() -> None:
    inhibitor = builtin()
    source = node_not_ready()
    inhibitor.observe(source)
    assert inhibitor.inhibited_count(source) == 0
    for target in (oom("web-1"), oom("web-1"), oom("web-2"), unhealthy(cause_workload=None)):
        inhibitor.note(source, target)
    assert inhibitor.inhibited_count(source) == 3
    assert inhibitor.inhibited_count(node_not_ready("node-2")) == 0


def test_no_builtin_no_rules() -> None:
    inhibitor = Inhibitor(parse_inhibit_rules(None, builtin=False))
    inhibitor.observe(node_not_ready())
    assert inhibitor.inhibitor_of(oom(), at(10)) is None
    assert inhibitor.look_ahead(oom()) == timedelta(0)
