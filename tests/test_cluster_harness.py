"""The cluster harness does what a cluster does: the real controllers and scheduler run the
workloads, and each kwok Stage in tests/harness/kwok/ writes the Pod/Node status a kubelet
(or its absence) would. The scenarios in tests/e2e/test_cluster_scenarios.py rely on these."""

import pytest

from tests.harness.cluster import (
    create,
    deployment,
    inject,
    oom,
    pods,
    ready_endpoints,
    request,
    rollout_complete,
    service,
    wait,
)

pytestmark = pytest.mark.kube


def _one_pod(api, ns, name, replicas=1, **kw):
    create(api, ns, service(name))
    create(api, ns, deployment(name, replicas, **kw))
    wait(lambda: rollout_complete(api, ns, name), timeout=60, what=f"{name} rolled out")
    return pods(api, ns, f"app={name}")


def _status(api, ns, pod):
    return request(api, "GET", f"/api/v1/namespaces/{ns}/pods/{pod}")


def _container(api, ns, pod):
    return (_status(api, ns, pod)["status"].get("containerStatuses") or [{}])[0]


def test_a_deployment_is_scheduled_run_and_gets_endpoints(kube_cluster, cluster_namespace):
    ns = cluster_namespace
    with kube_cluster.api_client() as api:
        ps = _one_pod(api, ns, "web", replicas=3)
        assert all(p["spec"].get("nodeName", "").startswith("kwok-node-") for p in ps)
        assert all(p["status"].get("podIP") for p in ps)
        wait(lambda: ready_endpoints(api, ns, "web") == 3, timeout=30, what="3 ready endpoints")
        events = request(api, "GET", f"/api/v1/namespaces/{ns}/events")["items"]
        reasons = {(e["source"].get("component") or e.get("reportingComponent"), e["reason"])
                   for e in events}
        assert ("deployment-controller", "ScalingReplicaSet") in reasons
        assert ("default-scheduler", "Scheduled") in reasons


def test_oom_terminates_then_restarts_with_last_state(kube_cluster, cluster_namespace):
    ns = cluster_namespace
    with kube_cluster.api_client() as api:
        (p,) = _one_pod(api, ns, "oom", annotations={"kea.test/restart-delay": "3s"})
        name = p["metadata"]["name"]
        oom(api, ns, name)
        wait(lambda: ready_endpoints(api, ns, "oom") == 0, timeout=30, what="the endpoint drop")
        c = wait(lambda: (c := _container(api, ns, name)).get("restartCount") == 1 and c,
                 timeout=30, what="the restart")
        assert c["lastState"]["terminated"]["reason"] == "OOMKilled"
        assert c["lastState"]["terminated"]["exitCode"] == 137
        assert "running" in c["state"] and c["ready"] is True
        assert "kea.test/fault" not in _status(api, ns, name)["metadata"]["labels"]
        oom(api, ns, name)  # the trigger is one-shot, so it can be pulled again
        wait(lambda: _container(api, ns, name).get("restartCount") == 2, timeout=30,
             what="the second OOM")


def test_liveness_kill_is_error_137_with_an_unhealthy_event(kube_cluster, cluster_namespace):
    ns = cluster_namespace
    with kube_cluster.api_client() as api:
        (p,) = _one_pod(api, ns, "live")
        name = p["metadata"]["name"]
        inject(api, ns, name, **{"kea.test/fault": "liveness"})
        c = wait(lambda: (c := _container(api, ns, name)).get("restartCount") == 1 and c,
                 timeout=30, what="the restart")
        assert (c["lastState"]["terminated"]["reason"], c["lastState"]["terminated"]["exitCode"]) \
            == ("Error", 137)
        events = request(api, "GET", f"/api/v1/namespaces/{ns}/events")["items"]
        assert any(e["reason"] == "Unhealthy" and e["type"] == "Warning"
                   and e["involvedObject"]["name"] == name for e in events)


def test_crashloop_backs_off_and_recovers_when_the_label_goes(kube_cluster, cluster_namespace):
    ns = cluster_namespace
    with kube_cluster.api_client() as api:
        (p,) = _one_pod(api, ns, "crash", annotations={"kea.test/crash-delay": "300ms"})
        name = p["metadata"]["name"]
        inject(api, ns, name, **{"kea.test/crashloop": "true"})
        wait(lambda: _container(api, ns, name).get("restartCount", 0) >= 2, timeout=30,
             what="two rounds of the crash loop")
        seen = wait(lambda: (c := _container(api, ns, name)).get("state", {}).get("waiting") and c,
                    timeout=30, what="CrashLoopBackOff")
        assert seen["state"]["waiting"]["reason"] == "CrashLoopBackOff"
        assert seen["lastState"]["terminated"]["reason"] == "Error"
        inject(api, ns, name, **{"kea.test/crashloop": None})
        wait(lambda: ready_endpoints(api, ns, "crash") == 1, timeout=30, what="running again")


def test_readiness_failure_and_recovery(kube_cluster, cluster_namespace):
    ns = cluster_namespace
    with kube_cluster.api_client() as api:
        (p,) = _one_pod(api, ns, "ready")
        name = p["metadata"]["name"]
        inject(api, ns, name, **{"kea.test/unready": "true"})
        wait(lambda: ready_endpoints(api, ns, "ready") == 0, timeout=30, what="unready")
        assert _container(api, ns, name)["restartCount"] == 0
        inject(api, ns, name, **{"kea.test/unready": None})
        wait(lambda: ready_endpoints(api, ns, "ready") == 1, timeout=30, what="ready again")


def test_a_node_that_stops_heartbeating_is_marked_not_ready_and_evicted(kube_cluster,
                                                                          cluster_namespace):
    ns, node = cluster_namespace, f"kwok-node-{cluster_namespace}"
    kube_cluster.add_node(node)
    short = [{"key": f"node.kubernetes.io/{t}", "operator": "Exists", "effect": "NoExecute",
              "tolerationSeconds": 2} for t in ("not-ready", "unreachable")]
    try:
        with kube_cluster.api_client() as api:
            (p,) = _one_pod(api, ns, "gone", pod_spec={
                "nodeSelector": {"kubernetes.io/hostname": node}, "tolerations": short})
            kube_cluster.stop_heartbeat(node)
            n = wait(lambda: (n := request(api, "GET", f"/api/v1/nodes/{node}"))
                     and any(t["key"] == "node.kubernetes.io/unreachable"
                             for t in n["spec"].get("taints") or ()) and n,
                     timeout=60, what="the unreachable taint")
            ready = [c for c in n["status"]["conditions"] if c["type"] == "Ready"]
            assert ready[0]["status"] == "Unknown", ready
            wait(lambda: _status(api, ns, p["metadata"]["name"])["metadata"].get("deletionTimestamp"),
                 timeout=60, what="the eviction")
            events = request(api, "GET", f"/api/v1/namespaces/{ns}/events")["items"]
            assert any(e["reason"] == "TaintManagerEviction" for e in events), \
                sorted({e["reason"] for e in events})
    finally:
        with kube_cluster.api_client() as api:
            request(api, "DELETE", f"/api/v1/nodes/{node}")
