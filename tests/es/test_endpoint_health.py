"""Endpoint-health documents: aggregated per Service across slices, one per change of counts."""
from tests.es.helpers import FIXED_NOW
from tests.factories import at, endpoint_slice, rec
from tests.rules.helpers import engine_for
from watcher.es.documents import Documenter


def EndpointHealth(prefix):
    """A fresh daemon's documenter (its own cluster state), as the sink uses it."""
    return Documenter(prefix=prefix, clock=lambda: FIXED_NOW)


def observe(agg, obj, watch_type="MODIFIED", **kw):
    return agg.documents(rec(obj, watch_type, **kw))


def test_first_sight_is_initial_with_counts_and_addresses():
    agg = EndpointHealth(prefix="kea")
    (d,) = observe(agg, endpoint_slice([True, False], change=30), "ADDED")
    s = d.source
    assert d.kind == "endpoints" and d.index == "kea-endpoints-2026.11.20"
    assert (s["service"], s["ready"], s["not_ready"], s["terminating"], s["total"]) == ("web", 1, 1, 0, 2)
    assert s["transition"] == {"from": None, "to": {"ready": 1, "not_ready": 1, "terminating": 0, "total": 2}}
    assert s["change"] == "initial" and s["healthy"] is False and s["@timestamp"] == at(30).isoformat()
    assert s["addresses"][1] == {"ip": "10.1.0.11", "node": "node-1", "pod": "web-pod-1", "ready": False,
                                 "serving": False, "terminating": False}


def test_only_count_changes_emit_with_the_transition():
    agg = EndpointHealth(prefix="kea")
    observe(agg, endpoint_slice([True, True]))
    assert observe(agg, endpoint_slice([True, True], pods=["new-0", "new-1"])) == []  # churn, same counts
    (d,) = observe(agg, endpoint_slice([True, False]))
    assert d.source["transition"] == {"from": {"ready": 2, "not_ready": 0, "terminating": 0, "total": 2},
                                      "to": {"ready": 1, "not_ready": 1, "terminating": 0, "total": 2}}
    assert d.source["change"] == "degraded"
    (d,) = observe(agg, endpoint_slice([True, True]))
    assert d.source["change"] == "improved" and d.source["healthy"] is True
    (d,) = observe(agg, endpoint_slice([True, True, True], terminating=[False, False, True]))
    assert d.source["change"] == "scaled" and d.source["terminating"] == 1 and d.source["total"] == 2


def test_counts_sum_over_the_services_slices():
    agg = EndpointHealth(prefix="kea")
    observe(agg, endpoint_slice([True, True], name="web-a", pods=["a-0", "a-1"]))
    (d,) = observe(agg, endpoint_slice([False], name="web-b", pods=["b-0"]))
    assert (d.source["ready"], d.source["not_ready"], d.source["total"]) == (2, 1, 3)
    assert len(d.source["addresses"]) == 3
    (d,) = observe(agg, endpoint_slice([False], name="web-b", pods=["b-0"]), "DELETED")
    assert (d.source["ready"], d.source["not_ready"]) == (2, 0) and d.source["change"] == "improved"
    (d,) = observe(agg, endpoint_slice([True, True], name="web-a", pods=["a-0", "a-1"]), "DELETED")
    assert d.source["change"] == "deleted" and d.source["total"] == 0
    assert len(agg.endpoints) == 0


def test_services_are_independent_and_ids_deterministic():
    a, b = EndpointHealth(prefix="kea"), EndpointHealth(prefix="kea")
    obj = endpoint_slice([True], service="api")
    (d1,) = observe(a, obj, listed=True)
    (d2,) = observe(b, obj, listed=True)  # a restarted daemon relisting the same slice
    assert d1.id == d2.id == f"test/shop/api/uid-api:{obj['metadata']['resourceVersion']}"
    assert d1.source["listed"] is True
    assert observe(a, endpoint_slice([True], service="web"))[0].source["service"] == "web"


def test_deleting_an_unknown_slice_emits_nothing():
    assert observe(EndpointHealth(prefix="kea"), endpoint_slice([True]), "DELETED") == []


def test_dual_stack_documents_count_each_pod_once_and_agree_with_the_alert():
    docs = EndpointHealth(prefix="kea")
    eng = engine_for("name: ep\nsource: endpoints\ndetector: endpoints_unhealthy\n")
    seen, alerts = [], []
    for name, ready in (("web-v4", [True, True]), ("web-v6", [True, True]),
                        ("web-v4", [True, False]), ("web-v6", [True, False])):
        r = rec(endpoint_slice(ready, name=name), "MODIFIED")
        obs = eng.observe(r)
        alerts += eng.evaluate(r, obs, FIXED_NOW)
        seen += docs.documents(r, obs)
    assert [(d.source["ready"], d.source["total"]) for d in seen] == [(2, 2), (1, 2)]
    assert [(a.fields["ready"], a.fields["total"]) for a in alerts] == [(1, 2)]
