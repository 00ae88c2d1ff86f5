"""What users run into, on a real cluster: the daemon as a user runs it (a subprocess with a config
file) against the real controllers, scheduler and kwok's fake kubelets (tests/harness/cluster.py).
Nothing here writes Pod status, EndpointSlices or scheduler Events by hand: Deployments roll out,
the EndpointSlice controller follows readiness, the scheduler reports FailedScheduling, and kwok
plays OOMKills and probe failures (tests/harness/kwok/faults.yaml).

Each scenario restarts the daemon (SIGTERM, then a new process on the same data_dir, as a rolling
update of the alerter does) at the moment that matters: while a service is degraded, mid-rollout,
mid-scale-down, while a node is NotReady, between two scheduling attempts, or while an Event is
written. What it sends is counted exactly: nothing repeated by the restart, nothing lost.

"Nothing was sent" is proven with a barrier, never a sleep: a later change on the same watch
stream that must alert (a sentinel Service's readiness failure, or a marker Event); once its
alert has arrived, anything the earlier changes would have sent has arrived too.
"""

import pytest

from tests.e2e import support
from tests.e2e.support import wait_for
from tests.harness.cluster import (
    create,
    deployment,
    hold,
    inject,
    node_pool,
    one_per_node,
    patch,
    pods,
    ready_endpoints,
    request,
    ready_pods,
    release,
    rollout_complete,
    scale,
    service,
)
from tests.harness.kube import create_event, object_ref

pytestmark = pytest.mark.kube

RULES = """
rules:
  - name: endpoints-unhealthy
    source: endpoints
    detector: endpoints_unhealthy
    severity: critical
    group_by: [namespace, service]
    for: {for_}
  - name: failed-scheduling
    description: 调度失败 FailedScheduling
    source: event
    match: {{reason: FailedScheduling, type: Warning}}
    detector: any
    severity: warning
    group_by: [namespace, involved_name]
    repeat_interval: 1h
  - name: node-not-ready
    description: 节点失联
    source: event
    match: {{reason: NodeNotReady}}
    detector: any
    severity: critical
    group_by: [namespace, involved_name]
  - name: barrier
    description: barrier
    source: event
    match: {{reason: KeaTestBarrier}}
    detector: any
    severity: info
    group_by: [namespace, involved_name]
"""


def Daemon(tmp_path, cluster, ns, wecom, *, for_="1s"):
    """The daemon with this file's rules (tests/e2e/support.py)."""
    return support.Daemon(tmp_path, cluster, ns, wecom, rules=RULES.format(for_=for_), name="kwok")


def until(check, what, state, timeout=60):
    """wait_for, and on a timeout say what ``state()`` was then (what was sent, the objects)."""
    try:
        return wait_for(check, timeout=timeout, what=what)
    except AssertionError as e:
        raise AssertionError(f"{e}; state: {state()}") from None


def said(wecom, marker, name):
    """How many accepted messages carry both `marker` and `name`."""
    return sum(1 for t in wecom.texts() if marker in t and name in t)


def deploy(api, ns, name, replicas, **kw):
    """A Service and its Deployment, rolled out with every endpoint ready."""
    create(api, ns, service(name))
    create(api, ns, deployment(name, replicas, **kw))
    wait_for(lambda: rollout_complete(api, ns, name), timeout=60, what=f"{name} rolled out")
    wait_for(lambda: ready_endpoints(api, ns, name) == replicas, timeout=60, what=f"{name} endpoints")


def live_pods(api, ns, app):
    return [p for p in pods(api, ns, f"app={app}") if not p["metadata"].get("deletionTimestamp")]


def endpoint_barrier(api, ns, wecom):
    """Fail the readiness of the sentinel `canary` pod and wait for its alert: every endpoint
    change before it has been through the same `for` by then. Then it recovers (and says so),
    ready for the next barrier."""
    (pod,) = live_pods(api, ns, "canary")
    fired, resolved = said(wecom, "【告警】应用不健康", "canary"), said(wecom, "【恢复】应用不健康", "canary")
    inject(api, ns, pod["metadata"]["name"], **{"kea.test/unready": "true"})
    wait_for(lambda: said(wecom, "【告警】应用不健康", "canary") == fired + 1, timeout=60, what="the barrier")
    inject(api, ns, pod["metadata"]["name"], **{"kea.test/unready": None})
    wait_for(lambda: said(wecom, "【恢复】应用不健康", "canary") == resolved + 1, timeout=60, what="the barrier's end")


def event_barrier(api, ns, wecom, app="canary"):
    """A marker Event about a pod of ``app`` on the events stream, and its alert."""
    pod = live_pods(api, ns, app)[0]
    create_event(api, ns, object_ref(pod), "KeaTestBarrier", type="Normal", message="barrier")
    name = pod["metadata"]["name"]
    wait_for(lambda: said(wecom, "KeaTestBarrier", name) >= 1, timeout=60, what="the barrier")


def unschedulable(api, ns):
    """A Deployment `huge` of one pod asking for 1000 CPUs, which no node has; its pod's name."""
    create(api, ns, deployment("huge", 1, pod_spec={"containers": [
        {"name": "app", "image": "registry.example/app:1", "resources": {"requests": {"cpu": "1000"}}}]}))
    (pod,) = wait_for(lambda: pods(api, ns, "app=huge"), timeout=30, what="the pod")
    return pod["metadata"]["name"]


def test_an_oom_in_a_deployment_of_two_alerts_drops_and_recovers_across_a_restart(
        tmp_path, kube_cluster, cluster_namespace, wecom):
    ns = cluster_namespace
    with kube_cluster.api_client() as api:
        deploy(api, ns, "pay", 2)
        d = Daemon(tmp_path, kube_cluster, ns, wecom).start()
        victim = live_pods(api, ns, "pay")[0]["metadata"]["name"]
        # OOMKilled and restarted, but left unready (as a slow start would) until we say so
        inject(api, ns, victim, **{"kea.test/fault": "oom", "kea.test/unready": "true"})
        # one card for both: the built-in inhibit rule lets the drop's card, which names the
        # OOMKilled cause, absorb the OOM that caused it (README Inhibition)
        until(lambda: said(wecom, "【告警】应用不健康", "pay") == 1 and said(wecom, "OOMKilled", victim) == 1,
              "the endpoint drop naming the OOM", lambda: (
                  wecom.texts(), request(api, "GET", f"/api/v1/namespaces/{ns}/pods/{victim}")["status"]))
        assert any("1 / 2" in t for t in wecom.texts() if "【告警】应用不健康" in t), wecom.texts()
        d.stop()  # a rolling update of the alerter while the service is degraded
        d.start()
        inject(api, ns, victim, **{"kea.test/unready": None})
        wait_for(lambda: said(wecom, "【恢复】应用不健康", "pay") == 1, timeout=60, what="the recovery")
        d.stop()
    assert said(wecom, "【告警】容器 OOMKilled", victim) == 0
    assert said(wecom, "【告警】应用不健康", "pay") == 1
    assert d.clean_log()


def test_a_rolling_update_with_max_unavailable_0_sends_nothing_across_a_restart(
        tmp_path, kube_cluster, cluster_namespace, wecom):
    ns, path = cluster_namespace, f"/apis/apps/v1/namespaces/{cluster_namespace}/deployments/web"
    with kube_cluster.api_client() as api:
        deploy(api, ns, "web", 2, max_unavailable=0, max_surge=1)
        deploy(api, ns, "canary", 1)
        old = {p["metadata"]["name"] for p in live_pods(api, ns, "web")}
        d = Daemon(tmp_path, kube_cluster, ns, wecom, for_="3s").start()
        # each new pod must stay ready 10 s before an old one goes: the rollout is slow enough
        # to catch halfway and pause there, so the restart happens mid-rollout for sure
        patch(api, path, {"spec": {"minReadySeconds": 10, "template": {"metadata": {"annotations": {"release": "2"}}}}})
        wait_for(lambda: _surged(api, ns, old), timeout=60, what="a new pod ready beside the old ones")
        patch(api, path, {"spec": {"paused": True}})
        assert old & {p["metadata"]["name"] for p in live_pods(api, ns, "web")}, "the rollout went too far"
        d.restart()  # with 3 ready endpoints, one new and two old, and the rollout half done
        endpoint_barrier(api, ns, wecom)  # the halfway state, as the new process LISTs it, outlasts `for`
        patch(api, path, {"spec": {"paused": False}})
        wait_for(lambda: rollout_complete(api, ns, "web") and not old & {
            p["metadata"]["name"] for p in pods(api, ns, "app=web")}, timeout=90, what="the rollout")
        endpoint_barrier(api, ns, wecom)
        d.stop()
    assert said(wecom, "【告警】", "web") == 0, wecom.texts()
    assert d.clean_log()


def _surged(api, ns, old):
    """A pod of the new template is ready while every old pod still runs."""
    live = {p["metadata"]["name"] for p in ready_pods(api, ns, "app=web")}
    return old <= live and live - old


def test_scaling_3_to_1_sends_nothing_across_a_restart(tmp_path, kube_cluster, cluster_namespace, wecom):
    ns = cluster_namespace
    with kube_cluster.api_client() as api:
        deploy(api, ns, "web", 3)
        deploy(api, ns, "canary", 1)
        held = [p["metadata"]["name"] for p in live_pods(api, ns, "web")]
        d = Daemon(tmp_path, kube_cluster, ns, wecom, for_="3s").start()
        try:
            for pod in held:  # the two pods scaled away stay Terminating until released
                hold(api, ns, pod)
            scale(api, ns, "web", 1)
            until(lambda: len(live_pods(api, ns, "web")) == 1 and len(pods(api, ns, "app=web")) == 3
                  and ready_endpoints(api, ns, "web") == 1, "two pods terminating",
                  lambda: [p["metadata"] for p in pods(api, ns, "app=web")])
            d.restart()  # mid-scale: the LIST shows two terminating endpoints and one ready
            endpoint_barrier(api, ns, wecom)  # and they stay terminating for longer than `for`
        finally:
            for pod in held:
                release(api, ns, pod)
        wait_for(lambda: len(pods(api, ns, "app=web")) == 1 and rollout_complete(api, ns, "web"),
                 timeout=90, what="two pods gone")
        endpoint_barrier(api, ns, wecom)
        d.stop()
    assert said(wecom, "【告警】", "web") == 0, wecom.texts()
    assert d.clean_log()


def test_an_unschedulable_pod_fires_failed_scheduling_once_across_a_restart(tmp_path, kube_cluster, cluster_namespace, wecom):
    ns, extra = cluster_namespace, f"kwok-node-{cluster_namespace}"
    with kube_cluster.api_client() as api:
        deploy(api, ns, "canary", 1)
        d = Daemon(tmp_path, kube_cluster, ns, wecom).start()
        name = unschedulable(api, ns)
        wait_for(lambda: said(wecom, "【告警】事件 FailedScheduling", name) == 1, timeout=60, what="FailedScheduling")
        d.stop()  # restarted between the first attempt and the next: the open incident is restored
        d.start()
        # a node it does not fit either: the scheduler tries again and the event becomes a series
        kube_cluster.add_node(extra, cpu="4")
        try:
            wait_for(lambda: _series_count(api, ns, name) >= 2, timeout=60, what="the second attempt")
            event_barrier(api, ns, wecom)
        finally:
            request(api, "DELETE", f"/api/v1/nodes/{extra}")
        d.stop()
    assert said(wecom, "【告警】事件 FailedScheduling", name) == 1, wecom.texts()
    assert d.clean_log()


def _series_count(api, ns, pod):
    """The FailedScheduling count for ``pod`` as events.k8s.io/v1 reports it (1 without a series)."""
    events = request(api, "GET", f"/apis/events.k8s.io/v1/namespaces/{ns}/events")["items"]
    return sum((e.get("series") or {}).get("count", 1) for e in events
               if e.get("reason") == "FailedScheduling" and e["regarding"]["name"] == pod)


def test_a_node_that_stops_heartbeating_drops_its_pod_and_the_replacement_recovers(
        tmp_path, kube_cluster, cluster_namespace, wecom):
    ns = cluster_namespace
    pool = node_pool(kube_cluster, ns)
    try:
        with kube_cluster.api_client() as api:
            deploy(api, ns, "pay", 2, pod_spec=one_per_node(ns, "pay"))
            (doomed,) = [p["metadata"]["name"] for p in live_pods(api, ns, "pay") if p["spec"]["nodeName"] == pool[0]]
            # `for: 5s`: the replacement starts NotReady on the live node; with 1 s a slow start
            # under load became a second drop card (CI, 2026-12-01). The dead node's drop lasts
            # until the eviction, 15 s and more, so it still alerts.
            d = Daemon(tmp_path, kube_cluster, ns, wecom, for_="5s").start()
            kube_cluster.stop_heartbeat(pool[0])
            # the node lifecycle controller marks its pod NotReady (an Event on the pod), then the
            # taint manager evicts it and the ReplicaSet's replacement runs on the live node.
            # (Once evicted, the pod is terminating and no longer counts: 1/1 ready is healthy.)
            until(lambda: said(wecom, "【告警】应用不健康", "pay") == 1 and said(wecom, "NodeNotReady", doomed) >= 1,
                  "the drop and the NodeNotReady alert", wecom.texts, timeout=60)
            not_ready = said(wecom, "NodeNotReady", doomed)
            assert not kube_cluster.node_ready(pool[0])
            d.restart()  # while the node is NotReady and the service degraded (eviction pending)
            until(lambda: said(wecom, "【恢复】应用不健康", "pay") == 1, "the recovery", wecom.texts, timeout=90)
            until(lambda: [p["spec"].get("nodeName") for p in ready_pods(api, ns, "app=pay")] == [pool[1]] * 2,
                  "the replacement running", lambda: live_pods(api, ns, "pay"), timeout=60)
            event_barrier(api, ns, wecom, app="pay")
            d.stop()
    finally:
        with kube_cluster.api_client() as api:
            for node in pool:
                request(api, "DELETE", f"/api/v1/nodes/{node}")
    assert said(wecom, "【告警】应用不健康", "pay") == 1, wecom.texts()
    assert said(wecom, "NodeNotReady", doomed) == not_ready, wecom.texts()  # not again after the restart
    assert d.clean_log()


def test_an_event_written_while_the_daemon_restarts_alerts_once_naming_the_workload(
        tmp_path, kube_cluster, cluster_namespace, wecom):
    ns = cluster_namespace
    with kube_cluster.api_client() as api:
        deploy(api, ns, "canary", 1)
        d = Daemon(tmp_path, kube_cluster, ns, wecom).start()
        d.stop()  # a checkpoint, then the alerter is away (being updated) when the pod fails to schedule
        name = unschedulable(api, ns)
        wait_for(lambda: _series_count(api, ns, name) >= 1, timeout=60, what="the FailedScheduling Event")
        d.start()  # the Event is news in its initial LIST, where the pod may not be known yet
        (text,) = wait_for(lambda: [t for t in wecom.texts() if "FailedScheduling" in t], timeout=60, what="the alert")
        d.restart()  # and once announced, a second start does not announce it again
        event_barrier(api, ns, wecom)
        d.stop()
    assert said(wecom, "【告警】事件 FailedScheduling", name) == 1, wecom.texts()
    app = text.split("应用名：", 1)[1].split("\n", 1)[0]
    assert app in ('<font color="comment">huge</font>', f'<font color="comment">{name}</font>'), app
    assert d.clean_log()
