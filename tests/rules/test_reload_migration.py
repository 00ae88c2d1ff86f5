"""A rule reload during an outage neither re-announces it nor forgets to resolve it."""
from rules.loader import load_text
from tests.factories import at, endpoint_slice, rec
from tests.rules.helpers import engine_for

EP = "name: ep\nsource: endpoints\ndetector: {type: endpoints_unhealthy%s}\n"


def rules(text):
    loaded = load_text(text, "reloaded.yaml")
    assert loaded.ok, [str(p) for p in loaded.problems]
    return loaded.rules


def firing_outage():
    eng = engine_for(EP % "")
    eng.process(rec(endpoint_slice([True, True, True, True]), "ADDED"), at(0))
    (fired,) = eng.process(rec(endpoint_slice([True, True, False, False])), at(10))
    return eng, fired


def test_a_changed_detector_carries_the_outage_over_and_resolves_it_later():
    eng, fired = firing_outage()
    assert eng.replace_rules(rules(EP % ", min_ready: 3")) == {"ep": "new"}
    assert eng.tick(at(20)) == []  # still unhealthy under the new detector: no second message
    assert eng.process(rec(endpoint_slice([True, True, False, False])), at(30)) == []
    (resolved,) = eng.process(rec(endpoint_slice([True, True, True, True])), at(40))
    assert (resolved.status, resolved.incident) == ("resolved", fired.incident)


def test_a_changed_detector_that_judges_the_service_healthy_resolves_the_outage():
    eng, fired = firing_outage()
    eng.replace_rules(rules(EP % ", min_ready: 2"))  # 2 of 4 ready is fine now
    (resolved,) = eng.tick(at(20))
    assert (resolved.status, resolved.incident, resolved.fields["ready"]) == ("resolved", fired.incident, 2)


def test_a_removed_rule_resolves_its_firing_incidents():
    eng, fired = firing_outage()
    eng.replace_rules([])
    assert [(a.status, a.incident) for a in eng.tick(at(20))] == [("resolved", fired.incident)]


def test_a_new_endpoints_rule_sees_the_whole_multi_slice_service_and_is_primed():
    eng = engine_for("name: other\nsource: pod\ndetector: oom_killed\n")
    pods_a = [f"a-{i}" for i in range(5)]
    pods_b = [f"b-{i}" for i in range(5)]
    eng.process(rec(endpoint_slice([True] * 5, name="web-a", pods=pods_a), "ADDED"), at(0))
    eng.process(rec(endpoint_slice([True, True, True, False, False], name="web-b", pods=pods_b), "ADDED"), at(1))
    eng.replace_rules(rules("name: other\nsource: pod\ndetector: oom_killed\n---\n" + EP % ""))
    assert eng.tick(at(2)) == []  # already unhealthy when the rule came: primed, as at start-up
    worse = eng.process(rec(endpoint_slice([True, True, False, False, False], name="web-b", pods=pods_b)), at(3))
    assert [(a.status, a.fields["ready"], a.fields["total"]) for a in worse] == [("firing", 7, 10)]
