"""The fields the built-in inhibition reads, as the engine makes them: the workload of the pod
that caused an endpoint drop, and whether an OOMKilled pod backs a Service at all."""
from __future__ import annotations

from tests.factories import at, endpoint_slice, oom, pod, rec
from tests.rules.helpers import builtin_engine


def test_an_endpoint_drop_names_the_workload_of_the_pod_that_caused_it() -> None:
    eng = builtin_engine(start=0)
    eng.process(rec(pod("web-6d8f7c9b4-a", ready=True), "ADDED"), at(1))
    eng.process(rec(endpoint_slice([True, True], service="web", pods=["web-6d8f7c9b4-a", "web-6d8f7c9b4-b"])), at(1))
    eng.process(rec(pod("web-6d8f7c9b4-a", restarts=1, last=oom(10), ready=False)), at(10))
    eng.process(rec(endpoint_slice([False, True], service="web", pods=["web-6d8f7c9b4-a", "web-6d8f7c9b4-b"])), at(11))
    alerts = eng.tick(at(45))
    [unhealthy] = [a for a in alerts if a.rule == "endpoints-unhealthy"]
    assert unhealthy.fields["cause"]["pod"] == "web-6d8f7c9b4-a"
    assert unhealthy.fields["cause"]["workload"] == "web"


def test_an_oom_says_whether_its_pod_backs_a_service() -> None:
    eng = builtin_engine(start=0)
    eng.process(rec(endpoint_slice([True, True], service="web", pods=["web-1", "web-2"])), at(1))
    [backing] = eng.process(rec(pod("web-1", restarts=1, last=oom(10), ready=False)), at(10))
    [alone] = eng.process(rec(pod("batch-1", restarts=1, last=oom(20), ready=False, rs=None)), at(20))
    assert backing.fields["backs_service"] is True
    assert alone.fields["backs_service"] is False


def test_without_any_endpoints_seen_an_oom_does_not_claim_to_back_nothing() -> None:
    eng = builtin_engine(start=0)
    [alert] = eng.process(rec(pod("web-1", restarts=1, last=oom(10), ready=False)), at(10))
    assert "backs_service" not in alert.fields


def test_once_the_endpoints_are_known_an_oom_with_no_service_anywhere_backs_none() -> None:
    """A namespace without Services: after the endpoint LIST nothing can drop, so the OOM must not
    wait for a drop (bench/cluster_oom.py latency measured p99 44.9 s while it did)."""
    eng = builtin_engine(start=0)
    eng.state.services.known = True
    [alert] = eng.process(rec(pod("web-1", restarts=1, last=oom(10), ready=False)), at(10))
    assert alert.fields["backs_service"] is False


def test_the_cause_is_named_when_the_pod_change_comes_after_the_endpoint_change() -> None:
    """Two watches: the EndpointSlice may say the pod is unready before the Pod says why. By
    the time `for` has passed the Pod change is in, and the card (and inhibition) see it."""
    eng = builtin_engine(start=0)
    pods = ["web-6d8f7c9b4-a", "web-6d8f7c9b4-b"]
    eng.process(rec(pod("web-6d8f7c9b4-a", ready=True), "ADDED"), at(1))
    eng.process(rec(endpoint_slice([True, True], service="web", pods=pods)), at(1))
    eng.process(rec(endpoint_slice([False, True], service="web", pods=pods, change=10)), at(10))
    eng.process(rec(pod("web-6d8f7c9b4-a", restarts=1, last=oom(10), ready=False)), at(11))
    [unhealthy] = [a for a in eng.tick(at(45)) if a.rule == "endpoints-unhealthy"]
    assert unhealthy.fields["cause"]["reason"] == "OOMKilled"
    assert unhealthy.fields["cause"]["workload"] == "web"
    assert "OOMKilled exit 137" in unhealthy.summary
