"""etcd is compacted past the watcher's resourceVersion while it is disconnected: the resume
gets 410 Gone, the watcher relists and announces exactly what changed while it was away —
the OOM, the new pod, the deleted pod — and nothing it had announced before."""
import pytest

from tests.harness import kube
from tests.kube.helpers import wait_until
from tests.kube.stack import Stack
from tests.kube.test_apiserver_restart import oom_status
from tests.kube.test_oomkilled import ts

pytestmark = pytest.mark.kube


def test_relist_after_compaction_misses_nothing_and_repeats_nothing(kube_control_plane, kube_namespace, apiserver2):
    cp, ns = kube_control_plane, kube_namespace
    with cp.api_client() as api, apiserver2.api_client() as other, Stack(cp, namespace=ns) as s:
        uids = {}
        for name in ("a", "b", "c", "old"):
            uids[name] = kube.create_pod(api, ns, name)["metadata"]["uid"]
            kube.patch_pod_status(api, ns, name, container_statuses=[kube.container_status("app")])
        s.settle(oom_status(api, ns, "old", ts())["metadata"]["resourceVersion"])
        assert [a.name for a in s.delivered.items] == ["old"]
        mark = len(s.records)

        cp.stop_apiserver()
        try:
            oom_status(other, ns, "a", ts(1))
            kube.request(other, "DELETE", f"/api/v1/namespaces/{ns}/pods/b")
            kube.create_pod(other, ns, "d")
            rv = oom_status(other, ns, "d", ts(1))["metadata"]["resourceVersion"]
            assert cp.compact_etcd() > int(rv)
        finally:
            cp.start_apiserver()
        s.settle(rv, timeout=60)
        wait_until(lambda: s.stats.count("watch_relists", reason="expired") >= 1, 10, "a relist after 410")

        assert sorted(s.records.changes(mark)) == [("ADDED", "d", False), ("DELETED", "b", False),
                                                  ("MODIFIED", "a", False)]
        assert sorted(a.name for a in s.delivered.items) == ["a", "d", "old"]
        assert len(set(s.delivered.ids())) == 3
        known = s.watchers[0].known
        assert uids["c"] in known and uids["b"] not in known  # c: unchanged, so silent
