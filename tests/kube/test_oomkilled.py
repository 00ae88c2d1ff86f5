"""OOMKilled on the real apiserver: a new OOM termination in a Pod's status is one alert;
status patches that bring no new termination are none."""
import pytest

from tests.harness import kube
from tests.kube.helpers import utcnow
from tests.kube.stack import Stack

pytestmark = pytest.mark.kube


def ts(seconds_from_now: float = 0) -> str:
    from datetime import timedelta

    return (utcnow() + timedelta(seconds=seconds_from_now)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_oomkilled_status_patch_alerts_exactly_once(kube_control_plane, kube_namespace):
    cp, ns = kube_control_plane, kube_namespace
    with cp.api_client() as api, Stack(cp, namespace=ns) as s:
        kube.create_pod(api, ns, "web-1", [{"name": "app", "image": kube.PAUSE_IMAGE,
                                            "resources": {"limits": {"memory": "128Mi"}}}],
                        # as the Deployment controller makes it: the hash label names the RS suffix
                        owner_rs="web-5d4f9", labels={"pod-template-hash": "5d4f9"}, node_name="node-a")
        kube.patch_pod_status(api, ns, "web-1", container_statuses=[kube.container_status("app")], pod_ip="10.1.0.5")
        oom = kube.terminated("OOMKilled", 137, finished_at=ts())
        p = kube.patch_pod_status(api, ns, "web-1", pod_ip="10.1.0.5", container_statuses=[
            kube.container_status("app", restart_count=1, last_state=oom)])
        s.settle(p["metadata"]["resourceVersion"])
        [alert] = s.delivered.items
        assert (alert.rule, alert.status, alert.namespace, alert.name) == ("oom-killed", "firing", ns, "web-1")
        assert alert.fields["container"] == "app" and alert.fields["exit_code"] == 137
        assert alert.fields["restarts"] == 1 and alert.fields["memory_limit"] == "128Mi"
        assert alert.workload == "Deployment/web"

        # The kubelet keeps rewriting status (readiness, conditions) without a new restart.
        for ready in (False, True, True):
            p = kube.patch_pod_status(api, ns, "web-1", pod_ip="10.1.0.5", container_statuses=[
                kube.container_status("app", ready=ready, restart_count=1, last_state=oom)])
        s.settle(p["metadata"]["resourceVersion"])
        assert len(s.delivered) == 1

        # A second OOM (a new restart, a later finishedAt) is seen: the built-in rule folds
        # repeats within its 30m repeat_interval into the open incident instead of paging again.
        p = kube.patch_pod_status(api, ns, "web-1", pod_ip="10.1.0.5", container_statuses=[
            kube.container_status("app", restart_count=2,
                                  last_state=kube.terminated("OOMKilled", 137, finished_at=ts(2)))])
        s.settle(p["metadata"]["resourceVersion"])
        assert len(s.delivered) == 1
        assert [i.count for i in s.engine.open_incidents()] == [2]
