"""The watchers' apiserver is killed and restarted (same etcd) mid-stream: what changed while
it was down — written through the control plane's other apiserver — is seen after the
reconnect, and nothing already announced is announced again."""
import pytest

from tests.harness import kube
from tests.kube.helpers import wait_until
from tests.kube.stack import Stack
from tests.kube.test_oomkilled import ts

pytestmark = pytest.mark.kube


def oom_status(api, ns, name, finished_at):
    return kube.patch_pod_status(api, ns, name, container_statuses=[kube.container_status(
        "app", restart_count=1, last_state=kube.terminated("OOMKilled", 137, finished_at=finished_at))])


def test_changes_while_the_apiserver_is_down_are_seen_once(kube_control_plane, kube_namespace, apiserver2):
    cp, ns = kube_control_plane, kube_namespace
    with cp.api_client() as api, apiserver2.api_client() as other, Stack(cp, namespace=ns) as s:
        for name in ("a", "b"):
            kube.create_pod(api, ns, name)
            kube.patch_pod_status(api, ns, name, container_statuses=[kube.container_status("app")])
        s.settle(oom_status(api, ns, "a", ts())["metadata"]["resourceVersion"])
        assert [a.name for a in s.delivered.items] == ["a"]

        cp.stop_apiserver()
        try:
            rv = oom_status(other, ns, "b", ts(1))["metadata"]["resourceVersion"]
            wait_until(lambda: s.stats.count("watch_reconnects") >= 1, 30, "a failed reconnect")
        finally:
            cp.start_apiserver()
        s.settle(rv, timeout=60)
        assert [(a.name, a.status) for a in s.delivered.items] == [("a", "firing"), ("b", "firing")]
        assert len(set(s.delivered.ids())) == 2
        # Only real changes came through after the restart: no pod was announced twice.
        after = [c for c in s.records.changes() if c[2] is False]
        assert after.count(("MODIFIED", "a", False)) == 2  # running, then OOM: both before the stop
