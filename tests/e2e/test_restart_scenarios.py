"""Restarts during activity, with the daemon run as a user runs it against the real apiserver:
what happened while it was away or starting is news and alerts once, what it had announced is
neither repeated nor left unresolved (the checkpoint in data_dir, no Elasticsearch)."""
import socket
import time

import pytest

from tests.e2e import support
from tests.e2e.support import get, wait_for
from tests.harness.kube import (apply_endpointslice, bump_event, container_status, create_event, create_pod,
                                patch_pod_status, terminated)

pytestmark = pytest.mark.kube  # and `es` for the Elasticsearch variants
SERVICES = ["svc-0", "svc-1", "svc-2"]


ENDPOINTS_RULE = ("name: endpoints-unhealthy\nsource: endpoints\ndetector: endpoints_unhealthy\n"
                  "severity: critical\ngroup_by: [namespace, service]\nfor: {for_}\n")


def Daemon(tmp_path, cp, ns, wecom, *, for_="1s", extra=""):
    """The daemon with the endpoints rule at `for_` (tests/e2e/support.py)."""
    return support.Daemon(tmp_path, cp, ns, wecom, rules=ENDPOINTS_RULE.format(for_=for_), extra=extra)


@pytest.fixture(params=["data_dir", "elasticsearch"])
def store(request):
    """The config lines for where the daemon keeps its memory: data_dir alone, or the real
    Elasticsearch node as well (history, spool and the checkpoint's copy)."""
    if request.param == "data_dir":
        return ""
    node = request.getfixturevalue("es_node").ensure_running()  # up before the daemon starts
    prefix = request.getfixturevalue("es_prefix").rstrip("-")
    return (f"elasticsearch: {{enabled: true, hosts: ['{node.url}'], index_prefix: {prefix}, "
            "bulk: {flush_interval: 0.2s}}\n")


def ready(n_ready, n=2):
    return [(f"10.9.0.{i + 1}", i < n_ready, f"node-{i}", f"pod-{i}") for i in range(n)]


POD = "pay-7c9f8d6b5-abcde"


def pay_endpoints(*, pod_ready: bool):
    """Service pay's two endpoints: POD (whose OOM is the drop's cause) and one that stays ready."""
    return [("10.1.2.3", pod_ready, "node-0", POD), ("10.9.0.2", True, "node-1", "pod-1")]


def said(wecom, marker, service):
    """How many accepted messages carry `marker` (【告警】/【恢复】) for `service` (a digest counts once
    per service it names)."""
    return sum(1 for t in wecom.texts() if marker in t and service in t)


def test_restart_while_unhealthy_still_sends_each_recovery_once(tmp_path, kube_control_plane, kube_namespace, wecom,
                                                                 store):
    cp, ns = kube_control_plane, kube_namespace
    with cp.api_client() as api:
        for svc in SERVICES:
            apply_endpointslice(api, ns, svc, ready(2))
        d = Daemon(tmp_path, cp, ns, wecom, extra=store).start()
        for svc in SERVICES:
            apply_endpointslice(api, ns, svc, ready(1))
        wait_for(lambda: all(said(wecom, "【告警】", s) == 1 for s in SERVICES), timeout=60, what="3 firings")
        d.stop()
        d.start()
        for svc in SERVICES:
            apply_endpointslice(api, ns, svc, ready(2))
        wait_for(lambda: all(said(wecom, "【恢复】", s) == 1 for s in SERVICES), timeout=60, what="3 recoveries")
        d.stop()
    assert all(said(wecom, "【告警】", s) == 1 and said(wecom, "【恢复】", s) == 1 for s in SERVICES)
    assert "Traceback" not in d.log.read_text()


def test_a_sigterm_during_for_does_not_lose_the_firing(tmp_path, kube_control_plane, kube_namespace, wecom, store):
    cp, ns = kube_control_plane, kube_namespace
    with cp.api_client() as api:
        for svc in SERVICES:
            apply_endpointslice(api, ns, svc, ready(2))
        d = Daemon(tmp_path, cp, ns, wecom, for_="8s", extra=store).start()
        for svc in SERVICES:
            apply_endpointslice(api, ns, svc, ready(1))
        wait_for(lambda: d.metric('kea_watch_events_total{resource="endpointslices",type="MODIFIED"} 3.0'),
                 timeout=30, what="the drops seen")
        d.stop()  # a rolling update of the alerter, a few seconds into the outage
        assert wecom.accepted == []
        d.start()
        wait_for(lambda: all(said(wecom, "【告警】", s) == 1 for s in SERVICES), timeout=60, what="3 firings")
        d.stop()
    assert all(said(wecom, "【告警】", s) == 1 for s in SERVICES)


def test_a_kill_right_after_the_first_firing_loses_and_repeats_nothing(tmp_path, kube_control_plane,
                                                                       kube_namespace, wecom, store):
    cp, ns = kube_control_plane, kube_namespace
    with cp.api_client() as api:
        for svc in SERVICES:
            apply_endpointslice(api, ns, svc, ready(2))
        d = Daemon(tmp_path, cp, ns, wecom, for_="0s", extra=store).start()
        for svc in SERVICES:
            apply_endpointslice(api, ns, svc, ready(1))
        wait_for(lambda: len(wecom.accepted) >= 1, timeout=30, what="the first firing")
        d.kill()
        d.start()
        wait_for(lambda: all(said(wecom, "【告警】", s) >= 1 for s in SERVICES), timeout=60, what="every firing")
        for svc in SERVICES:
            apply_endpointslice(api, ns, svc, ready(2))
        wait_for(lambda: all(said(wecom, "【恢复】", s) == 1 for s in SERVICES), timeout=60, what="every recovery")
        d.stop()
    # Nothing lost, nothing repeated but what was in flight: the kill may land between the
    # platform's answer and the outbox's confirmation (the one at-least-once window, README
    # "Delivery"), and a robot's worker sends one message at a time.
    firings = [said(wecom, "【告警】", s) for s in SERVICES]
    assert all(n >= 1 for n in firings) and sum(firings) <= len(SERVICES) + 1, wecom.texts()


def test_what_happened_while_the_daemon_was_stopped_is_news(tmp_path, kube_control_plane, kube_namespace, wecom):
    cp, ns = kube_control_plane, kube_namespace
    with cp.api_client() as api:
        create_pod(api, ns, POD, ["app"], owner_rs="pay-7c9f8d6b5", labels={"app": "pay"})
        apply_endpointslice(api, ns, "pay", pay_endpoints(pod_ready=True))
        d = Daemon(tmp_path, cp, ns, wecom).start()
        d.stop()
        # while nobody watches: an OOM and an endpoint drop, and etcd compacts the history
        patch_pod_status(api, ns, POD, pod_ip="10.1.2.3", host_ip="192.168.1.7",
                         container_statuses=[container_status("app", ready=False, restart_count=1,
                                                              last_state=terminated("OOMKilled", 137))])
        apply_endpointslice(api, ns, "pay", pay_endpoints(pod_ready=False))
        cp.compact_etcd()
        d.start()
        wait_for(lambda: said(wecom, "OOMKilled", "pay") >= 1 and said(wecom, "【告警】应用不健康", "pay") == 1,
                 timeout=60, what="the OOM and the drop")
        d.stop()
        d.start()  # and a restart now repeats neither
        apply_endpointslice(api, ns, "pay", pay_endpoints(pod_ready=True))
        wait_for(lambda: said(wecom, "【恢复】", "pay") == 1, timeout=60, what="the recovery")
        d.stop()
    # One card for the outage: the built-in inhibit rule lets the drop's card (which names the
    # OOMKilled cause) absorb the OOM that caused it (README Inhibition). A digest holding both
    # cards would be two, so the OOM card's own title is counted, not the texts that say OOMKilled.
    texts = wecom.texts()
    assert sum(t.count("【告警】容器 OOMKilled") for t in texts) == 0, texts
    assert said(wecom, "【告警】应用不健康", "pay") == 1, texts
    assert any("ExitCode 137 OOMKilled" in t for t in texts if "【告警】应用不健康" in t), texts


def test_an_oom_while_the_daemon_is_starting_is_not_history(tmp_path, kube_control_plane, kube_namespace, wecom):
    cp, ns = kube_control_plane, kube_namespace
    # Elasticsearch that never answers makes the start-up slow (templates, the history restore)
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(64)
    try:
        with cp.api_client() as api:
            create_pod(api, ns, "pay-7c9f8d6b5-abcde", ["app"], owner_rs="pay-7c9f8d6b5", labels={"app": "pay"})
            d = Daemon(tmp_path, cp, ns, wecom, extra=(
                f"elasticsearch: {{enabled: true, hosts: ['http://127.0.0.1:{hole.getsockname()[1]}'], "
                "request_timeout: 3s}\n"))
            d.start(wait_ready=False)
            wait_for(lambda: "starting: cluster=e2e" in d.log.read_text(), timeout=30, what="the start")
            patch_pod_status(api, ns, "pay-7c9f8d6b5-abcde", pod_ip="10.1.2.3", host_ip="192.168.1.7",
                             container_statuses=[container_status("app", ready=False, restart_count=1,
                                                                  last_state=terminated("OOMKilled", 137))])
            assert get(f"http://127.0.0.1:{d.port}/readyz")[0] != 200  # still starting
            wait_for(lambda: said(wecom, "OOMKilled", "pay") == 1, timeout=90, what="the OOM")
            d.stop()
    finally:
        hole.close()


BACKOFF_RULE = ("name: backoff\nsource: event\ndetector: any\nmatch: {reason: BackOff, type: Warning}\n"
                "group_by: [namespace, involved_name, reason]\nrepeat_interval: 3s\n")


def test_an_event_announced_before_a_restart_is_not_announced_again(tmp_path, kube_control_plane, kube_namespace,
                                                                      wecom):
    """Its repeat is folded, the daemon stops before the 3 s fold window ends and starts after
    it: the initial LIST shows the Event again, inside the checkpoint's minute of margin. It
    was sent once, and the fold's count goes out after the start (累计次数 2)."""
    cp, ns = kube_control_plane, kube_namespace
    with cp.api_client() as api:
        d = support.Daemon(tmp_path, cp, ns, wecom, rules=BACKOFF_RULE).start()
        pod_ref = {"kind": "Pod", "name": "pay-7c9f8d6b5-abcde", "namespace": ns}
        ev = create_event(api, ns, pod_ref, "BackOff", "Warning", "Back-off restarting failed container")
        bump_event(api, ns, ev["metadata"]["name"])
        wait_for(lambda: d.metric('kea_rule_matches_total{rule="backoff"} 2.0') and said(wecom, "BackOff", "pay") == 1,
                 timeout=30, what="the card and the folded repeat")
        d.stop()
        time.sleep(4)  # not a wait for something to happen: the fold window must end while nobody watches
        d.start()
        wait_for(lambda: said(wecom, "累计次数", "pay") == 1, timeout=30, what="the fold's count")
        # barrier: a later Event on the same stream has its card, so the LIST's copies were judged
        create_event(api, ns, {**pod_ref, "name": "cart-5d4c3b2a1-fghij"}, "BackOff", "Warning", "Back-off")
        wait_for(lambda: said(wecom, "BackOff", "cart") == 1, timeout=30, what="the barrier's card")
        d.stop()
    assert said(wecom, "BackOff", "pay") == 2, wecom.texts()  # the card, then its count; not the card again
    assert d.clean_log()
