"""One card per outage, on a real cluster (tests/harness/cluster.py): the built-in inhibit rules
as a user gets them, the daemon run as a user runs it, the controllers and kwok's kubelets
making the OOMKills, endpoint drops and NodeNotReady for real.

"Not sent" is proven by the daemon settling the entry `inhibited` (its
kea_notifications_total{result="inhibited"}): a settled entry is never sent afterwards.
"""
import re

import pytest

from tests.e2e import support
from tests.e2e.support import get, wait_for
from tests.harness.cluster import (create, deployment, inject, node_pool, one_per_node, pods, ready_endpoints, request,
                                   rollout_complete, service)

pytestmark = pytest.mark.kube

# endpoints-unhealthy overrides the built-in with a short `for` (so the OOM look-ahead is 16 s);
# node-not-ready is the common pack's rule (rules/packs/common/node-not-ready.yaml).
RULES = """
rules:
  - name: endpoints-unhealthy
    source: endpoints
    detector: endpoints_unhealthy
    severity: critical
    group_by: [namespace, service]
    for: 1s
  - name: node-not-ready
    title: 节点 NotReady
    source: event
    match: {reason: NodeNotReady, involved_kind: Node}
    detector: any
    severity: critical
    group_by: [involved_name]
    repeat_interval: 1h
"""


def Daemon(tmp_path, cluster, ns, wecom):
    d = support.Daemon(tmp_path, cluster, ns, wecom, rules=RULES, name="kwok")
    # Node Events are recorded in `default`
    d.cfg.write_text(d.cfg.read_text().replace(f"namespaces: [{ns}]", f"namespaces: [{ns}, default]"))
    return d


def until(check, what, state, timeout=60):
    try:
        return wait_for(check, timeout=timeout, what=what)
    except AssertionError as e:
        raise AssertionError(f"{e}; state: {state()}") from None


def cards(wecom, marker, name):
    return [t for t in wecom.texts() if marker in t and name in t]


def inhibited(d) -> int:
    """How many entries the daemon settled `inhibited` so far."""
    text = get(f"http://127.0.0.1:{d.port}/metrics")[1]
    return int(sum(float(v) for v in re.findall(r'kea_notifications_total\{[^}]*result="inhibited"[^}]*\} (\S+)', text)))


def deploy(api, ns, name, replicas, *, with_service=True, **kw):
    if with_service:
        create(api, ns, service(name))
    create(api, ns, deployment(name, replicas, **kw))
    wait_for(lambda: rollout_complete(api, ns, name), timeout=60, what=f"{name} rolled out")
    if with_service:
        wait_for(lambda: ready_endpoints(api, ns, name) == replicas, timeout=60, what=f"{name} endpoints")


def live_pods(api, ns, app):
    return [p for p in pods(api, ns, f"app={app}") if not p["metadata"].get("deletionTimestamp")]


def test_an_oom_that_drops_a_deployment_of_two_is_one_card_then_its_recovery(
        tmp_path, kube_cluster, cluster_namespace, wecom):
    ns = cluster_namespace
    with kube_cluster.api_client() as api:
        deploy(api, ns, "pay", 2)
        d = Daemon(tmp_path, kube_cluster, ns, wecom).start()
        victim = live_pods(api, ns, "pay")[0]["metadata"]["name"]
        inject(api, ns, victim, **{"kea.test/fault": "oom", "kea.test/unready": "true"})
        card = one_card_then_recovery(api, ns, d, wecom, "pay", victim)
    assert_one_card_named_the_oom(card, wecom, d, "pay", victim)


def one_card_then_recovery(api, ns, d, wecom, app, victim) -> str:
    """The endpoints card, the OOM settled inhibited, then (the pod ready again) the recovery."""
    (card,) = until(lambda: cards(wecom, "【告警】应用不健康", app), "the endpoints card", wecom.texts)
    # the OOM waited its look-ahead and was absorbed by the drop it caused
    until(lambda: inhibited(d) >= 1, "the OOM settled inhibited", wecom.texts)
    inject(api, ns, victim, **{"kea.test/unready": None})
    until(lambda: cards(wecom, "【恢复】应用不健康", app), "the recovery", wecom.texts, timeout=90)
    d.stop()
    return card


def assert_one_card_named_the_oom(card, wecom, d, app, victim) -> None:
    assert "1 / 2" in card and "ExitCode 137 OOMKilled" in card and victim in card, card
    assert not cards(wecom, "【告警】容器 OOMKilled", victim), wecom.texts()
    assert len([t for t in wecom.texts() if app in t]) == 2, wecom.texts()
    assert d.clean_log()


def test_an_oom_of_a_pod_behind_no_service_is_the_oom_card_alone(tmp_path, kube_cluster, cluster_namespace, wecom):
    ns = cluster_namespace
    with kube_cluster.api_client() as api:
        deploy(api, ns, "batch", 1, with_service=False)
        d = Daemon(tmp_path, kube_cluster, ns, wecom).start()
        (victim,) = [p["metadata"]["name"] for p in live_pods(api, ns, "batch")]
        inject(api, ns, victim, **{"kea.test/fault": "oom"})
        until(lambda: cards(wecom, "【告警】容器 OOMKilled", victim), "the OOM card", wecom.texts)
        d.stop()
    assert len(cards(wecom, "【告警】容器 OOMKilled", victim)) == 1
    assert not cards(wecom, "应用不健康", "batch"), wecom.texts()
    assert d.clean_log()


def test_a_node_that_stops_heartbeating_is_one_node_card_naming_what_it_inhibited(
        tmp_path, kube_cluster, cluster_namespace, wecom):
    ns = cluster_namespace
    pool = node_pool(kube_cluster, ns)
    try:
        with kube_cluster.api_client() as api:
            deploy(api, ns, "pay", 2, pod_spec=one_per_node(ns, "pay"))
            d = Daemon(tmp_path, kube_cluster, ns, wecom).start()
            kube_cluster.stop_heartbeat(pool[0])
            (card,) = until(lambda: cards(wecom, "【告警】节点 NotReady", pool[0]), "the node card", wecom.texts,
                            timeout=90)
            # the drop's firing (and, once the pod is evicted, its resolved) settle inhibited
            until(lambda: inhibited(d) >= 2, "the drop settled inhibited", wecom.texts, timeout=90)
            d.stop()
    finally:
        with kube_cluster.api_client() as api:
            for node in pool:
                request(api, "DELETE", f"/api/v1/nodes/{node}")
    assert "已抑制" in card and "1 条相关告警" in card, card
    assert not [t for t in wecom.texts() if "pay" in t], wecom.texts()
    assert d.clean_log()


# The built-in pair with a long look-ahead, so a restart fits between the drop's alert and the
# OOM's due time however slow the machine is (the drop's card joins the OOM's held group).
LONG_LOOK_AHEAD = """
inhibition: {builtin: false}
inhibit_rules:
  - name: the drop absorbs the OOM that caused it
    source_matchers: [detector=endpoints_unhealthy]
    target_matchers: [detector=oom_killed]
    equal: [namespace, {source: fields.cause.workload, target: workload}]
    look_ahead: 60s
"""


def test_an_oom_held_across_a_restart_is_still_absorbed_by_the_drop_before_it(
        tmp_path, kube_cluster, cluster_namespace, wecom):
    ns = cluster_namespace
    with kube_cluster.api_client() as api:
        deploy(api, ns, "cart", 2)
        d = support.Daemon(tmp_path, kube_cluster, ns, wecom, rules=RULES, name="kwok", extra=LONG_LOOK_AHEAD).start()
        victim = live_pods(api, ns, "cart")[0]["metadata"]["name"]
        inject(api, ns, victim, **{"kea.test/fault": "oom"})
        until(lambda: d.metric('kea_alerts_total{rule="oom-killed",status="firing"} 1.0'), "the OOM alert",
              wecom.texts)
        inject(api, ns, victim, **{"kea.test/unready": "true"})  # the drop it causes, after it
        until(lambda: d.metric('kea_alerts_total{rule="endpoints-unhealthy",status="firing"} 1.0')
              and d.metric("kea_outbox_pending 2.0"), "the drop's alert in the outbox", wecom.texts)
        assert inhibited(d) == 0 and wecom.texts() == []  # the OOM waits its look-ahead, the drop with it
        d.restart()  # both entries stay held in the outbox; the drop is restored as announced
        (card,) = until(lambda: cards(wecom, "【告警】应用不健康", "cart"), "the endpoints card", wecom.texts,
                        timeout=120)
        until(lambda: inhibited(d) >= 1, "the OOM settled inhibited after the restart", wecom.texts)
        inject(api, ns, victim, **{"kea.test/unready": None})
        until(lambda: cards(wecom, "【恢复】应用不健康", "cart"), "the recovery", wecom.texts, timeout=90)
        d.stop()
    assert not cards(wecom, "【告警】容器 OOMKilled", victim), wecom.texts()
    assert len([t for t in wecom.texts() if "cart" in t]) == 2, wecom.texts()
    assert d.clean_log()


def test_an_oom_and_its_drop_while_the_daemon_was_stopped_are_one_card_after_the_start(
        tmp_path, kube_cluster, cluster_namespace, wecom):
    # After the start the Pod LIST and the EndpointSlice LIST race; whichever comes first, the
    # drop's card names the OOM (a checkpoint between the two must not fix it without it).
    ns = cluster_namespace
    with kube_cluster.api_client() as api:
        deploy(api, ns, "shop", 2)
        d = Daemon(tmp_path, kube_cluster, ns, wecom).start()
        d.stop()
        victim = live_pods(api, ns, "shop")[0]["metadata"]["name"]
        inject(api, ns, victim, **{"kea.test/fault": "oom", "kea.test/unready": "true"})
        wait_for(lambda: ready_endpoints(api, ns, "shop") == 1, timeout=60, what="the drop, while stopped")
        d.start()
        card = one_card_then_recovery(api, ns, d, wecom, "shop", victim)
    assert_one_card_named_the_oom(card, wecom, d, "shop", victim)
