from tests.factories import at, endpoint_slice, oom, pod, rec
from tests.rules.helpers import builtin_engine, engine_for

NO_FOR = """
name: ep
source: endpoints
detector: endpoints_unhealthy
"""


def test_drop_fires_after_for_and_resolves_when_healthy():
    eng = builtin_engine()  # built-in `for: 30s`
    assert eng.process(rec(endpoint_slice([True, True]), "ADDED"), at(1)) == []
    assert eng.process(rec(endpoint_slice([True, False], change=10)), at(10)) == []
    assert eng.tick(at(30)) == []
    fired = eng.tick(at(41))
    assert [(a.rule, a.status, a.key) for a in fired] == [("endpoints-unhealthy", "firing", "shop/web")]
    f = fired[0].fields
    assert (f["ready"], f["total"], f["unhealthy"]) == (1, 2, 1)
    assert f["unhealthy_addresses"] == [{"ip": "10.1.0.11", "ready": False, "node": "node-1", "pod": "web-pod-1"}]
    resolved = eng.process(rec(endpoint_slice([True, True], change=90)), at(90))
    assert [(a.status, a.fields["ready"], a.fields["total"]) for a in resolved] == [("resolved", 2, 2)]
    assert resolved[0].incident == fired[0].incident


def test_flap_shorter_than_for_sends_nothing():
    eng = builtin_engine()
    eng.process(rec(endpoint_slice([True, True]), "ADDED"), at(0))
    eng.process(rec(endpoint_slice([True, False])), at(5))
    assert eng.process(rec(endpoint_slice([True, True])), at(20)) == []
    assert eng.tick(at(100)) == []


def test_slices_of_one_service_are_summed():
    eng = engine_for(NO_FOR)
    eng.process(rec(endpoint_slice([True, True], name="web-a", pods=["a-0", "a-1"]), "ADDED"), at(0))
    alerts = eng.process(rec(endpoint_slice([True, False], name="web-b", pods=["b-0", "b-1"]), "ADDED"), at(1))
    assert [(a.fields["ready"], a.fields["total"]) for a in alerts] == [(3, 4)]


def test_dual_stack_slices_count_each_pod_once():
    # An IPv4 and an IPv6 slice list the same two pods: two endpoints, not four.
    eng = engine_for(NO_FOR)
    eng.process(rec(endpoint_slice([True, True], name="web-v4"), "ADDED"), at(0))
    assert eng.process(rec(endpoint_slice([True, True], name="web-v6"), "ADDED"), at(1)) == []
    alerts = eng.process(rec(endpoint_slice([True, False], name="web-v4")), at(2))
    alerts += eng.process(rec(endpoint_slice([True, False], name="web-v6")), at(3))
    assert [(a.status, a.fields["ready"], a.fields["total"], len(a.fields["addresses"])) for a in alerts] \
        == [("firing", 1, 2, 2)]


def test_an_endpoints_rule_matches_on_the_services_totals_not_one_slices():
    eng = engine_for("""
name: big-service-degraded
source: endpoints
detector: endpoints_unhealthy
match: {total: {gte: 4}}
""")
    eng.process(rec(endpoint_slice([True, True], name="web-a", pods=["a-0", "a-1"]), "ADDED"), at(0))
    alerts = eng.process(rec(endpoint_slice([True, False], name="web-b", pods=["b-0", "b-1"]), "ADDED"), at(1))
    assert [(a.fields["ready"], a.fields["total"]) for a in alerts] == [(3, 4)]


def test_terminating_endpoints_are_not_unhealthy():
    eng = engine_for(NO_FOR)
    alerts = eng.process(rec(endpoint_slice([True, False], terminating=[False, True])), at(1))
    assert alerts == []


def test_listed_unhealthy_primes_then_fires_only_if_worse():
    eng = engine_for(NO_FOR)
    assert eng.process(rec(endpoint_slice([True, False, True]), "ADDED", listed=True), at(0)) == []
    assert eng.process(rec(endpoint_slice([True, False, True])), at(5)) == []
    worse = eng.process(rec(endpoint_slice([False, False, True])), at(6))
    assert [(a.status, a.fields["ready"]) for a in worse] == [("firing", 1)]


def test_primed_incident_recovering_sends_no_resolved():
    eng = engine_for(NO_FOR)
    eng.process(rec(endpoint_slice([True, False]), "ADDED", listed=True), at(0))
    assert eng.process(rec(endpoint_slice([True, True])), at(5)) == []


def test_deleting_the_last_slice_resolves():
    eng = engine_for(NO_FOR)
    eng.process(rec(endpoint_slice([True, False]), "ADDED"), at(0))
    alerts = eng.process(rec(endpoint_slice([True, False]), "DELETED"), at(5))
    assert [(a.status, a.fields["total"]) for a in alerts] == [("resolved", 0)]


def test_min_ready_and_ratio():
    eng = engine_for(NO_FOR + "  \n")
    eng2 = engine_for("name: r\nsource: endpoints\ndetector: {type: endpoints_unhealthy, min_ready_ratio: 0.5}\n")
    eng3 = engine_for("name: m\nsource: endpoints\ndetector: {type: endpoints_unhealthy, min_ready: 2}\n")
    obj = endpoint_slice([True, True, False, False])
    assert len(eng.process(rec(obj), at(1))) == 1
    assert eng2.process(rec(obj), at(1)) == []  # 2/4 is not below 0.5
    assert eng3.process(rec(obj), at(1)) == []
    assert len(eng3.process(rec(endpoint_slice([True, False, False, False])), at(2))) == 1


def test_cause_names_the_pods_last_termination():
    eng = engine_for(NO_FOR)
    eng.process(rec(pod("web-pod-1", restarts=1, last=oom(3), ready=False, rs=None)), at(3))
    alerts = eng.process(rec(endpoint_slice([True, False], change=4)), at(4))
    cause = alerts[0].fields["cause"]
    assert (cause["pod"], cause["reason"], cause["exit_code"]) == ("web-pod-1", "OOMKilled", 137)
    assert "OOMKilled exit 137" in alerts[0].summary


def test_a_checkpoint_taken_during_for_does_not_fix_the_drops_card_before_its_cause_is_seen():
    # The Pod change that names the cause may come after the slice's (two watches: the
    # EndpointSlice LIST first after a restart). A checkpoint saved in between (it renders
    # every open incident) must not freeze the card without it.
    eng = builtin_engine()  # `for: 30s`
    eng.process(rec(endpoint_slice([True, True]), "ADDED"), at(1))
    eng.process(rec(endpoint_slice([True, False], change=10)), at(10))
    eng.snapshot()
    eng.process(rec(pod("web-pod-1", restarts=1, last=oom(11), ready=False, rs=None)), at(11))
    fired = [a for a in eng.tick(at(41)) if a.rule == "endpoints-unhealthy"]
    assert [a.status for a in fired] == ["firing"]
    assert fired[0].fields["cause"]["pod"] == "web-pod-1"
    assert "OOMKilled exit 137" in fired[0].summary


def test_endpoints_ignored_where_slices_exist():
    from tests.factories import _rv

    eng = engine_for(NO_FOR)
    eng.process(rec(endpoint_slice([True, True])), at(0))
    legacy = {"kind": "Endpoints", "metadata": {"name": "web", "namespace": "shop", "resourceVersion": str(next(_rv))},
              "subsets": [{"addresses": [{"ip": "10.0.0.1"}], "notReadyAddresses": [{"ip": "10.0.0.2"}]}]}
    assert eng.process(rec(legacy), at(1)) == []


def test_core_v1_endpoints_alone_work():
    from tests.factories import _rv

    eng = engine_for(NO_FOR)
    legacy = {"kind": "Endpoints", "metadata": {"name": "api", "namespace": "shop", "resourceVersion": str(next(_rv))},
              "subsets": [{"addresses": [{"ip": "10.0.0.1", "nodeName": "n1"}], "notReadyAddresses": [{"ip": "10.0.0.2", "nodeName": "n2"}]}]}
    alerts = eng.process(rec(legacy), at(1))
    assert [(a.key, a.fields["ready"], a.fields["total"], a.fields["nodes"]) for a in alerts] == [("shop/api", 1, 2, ["n2"])]


def test_restore_then_healthy_list_resolves_incident_opened_before_restart():
    eng = engine_for(NO_FOR)
    fired = eng.process(rec(endpoint_slice([True, False])), at(1))
    open_ = eng.open_incidents()
    assert [a.id for a in open_] == [fired[0].id]
    fresh = engine_for(NO_FOR, start=100)
    assert fresh.restore(open_) == 1
    resolved = fresh.process(rec(endpoint_slice([True, True]), "ADDED", listed=True), at(100))
    assert [(a.status, a.incident) for a in resolved] == [("resolved", fired[0].incident)]


def test_reminder_after_repeat_interval():
    eng = engine_for(NO_FOR + "repeat_interval: 1h\n")
    first = eng.process(rec(endpoint_slice([True, False])), at(0))
    assert eng.tick(at(1800)) == []
    again = eng.tick(at(3600))
    assert [(a.status, a.sequence) for a in again] == [("firing", 2)]
    assert again[0].id != first[0].id


def test_reload_keeps_state_of_unchanged_and_detector_compatible_rules():
    from rules.loader import load_text

    eng = engine_for(NO_FOR + "severity: warning\n")
    fired = eng.process(rec(endpoint_slice([True, False])), at(1))
    assert fired[0].severity == "warning"
    changed = load_text(NO_FOR + "severity: critical\n", "r.yaml").rules
    assert eng.replace_rules(changed) == {"ep": "updated"}
    resolved = eng.process(rec(endpoint_slice([True, True])), at(2))
    assert [(a.status, a.severity, a.incident) for a in resolved] == [("resolved", "critical", fired[0].incident)]


def test_node_ips_learned_from_pods_are_attached():
    eng = engine_for(NO_FOR)
    eng.process(rec(pod("web-pod-1", node="node-1", rs=None)), at(0))
    alerts = eng.process(rec(endpoint_slice([True, False])), at(1))
    assert alerts[0].fields["nodes"] == ["node-1"] and alerts[0].fields["node_ips"] == {"node-1": "192.168.0.11"}
