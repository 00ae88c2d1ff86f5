"""Two replicas on one apiserver, each with its own watchers, engine, alert router and Lease
loop: one alert per incident; when the leader dies (no release), the follower takes over
within lease duration + 5 s and sends what happened after the death exactly once."""
import time
from datetime import timedelta

import pytest

from tests.harness import kube
from tests.kube.helpers import utcnow, wait_until
from tests.kube.stack import Stack
from tests.kube.test_apiserver_restart import oom_status
from tests.kube.test_leader_election import LEASE, lease_cfg, read_lease
from tests.kube.test_oomkilled import ts
from watcher.alerting import FAILOVER_MARGIN
from watcher.normalize import parse_time

pytestmark = pytest.mark.kube


def test_failover_sends_post_kill_incidents_once(kube_control_plane, kube_namespace):
    cp, ns = kube_control_plane, kube_namespace
    cfg = lease_cfg(ns)
    with cp.api_client() as api:
        for name in ("p1", "p2", "p3"):
            kube.create_pod(api, ns, name)
            kube.patch_pod_status(api, ns, name, container_statuses=[kube.container_status("app")])
        a = Stack(cp, namespace=ns, router=True)
        b = Stack(cp, namespace=ns, router=True)
        a.elect(cfg, "replica-a")
        b.elect(cfg, "replica-b")
        try:
            a.start()
            wait_until(lambda: a.elector.is_leader, 10, "a to lead")
            b.start()
            wait_until(lambda: b.elector.holder == "replica-a", 10, "b to see a holding the lease")

            # Incident 1 while a leads: a sends it, b decides it too but holds it.
            rv = oom_status(api, ns, "p1", ts())["metadata"]["resourceVersion"]
            a.settle(rv)
            b.settle(rv)
            assert [x.name for x in a.delivered.items] == ["p1"] and b.delivered.items == []
            assert [x.name for x in b.decided.items] == ["p1"]
            held_at = utcnow()
            # a renews after b decided p1 (every 0.5 s): p1 is behind the last renewal by more
            # than the takeover's safety margin.
            wait_until(lambda: parse_time(read_lease(cp, ns)["renewTime"])
                       > held_at + FAILOVER_MARGIN + timedelta(seconds=0.1), 5, "a renewal after p1")

            a.kill()
            t_kill = time.monotonic()
            # Incident 2 right after the death, before anyone leads.
            rv = oom_status(api, ns, "p2", ts())["metadata"]["resourceVersion"]
            b.settle(rv)
            wait_until(lambda: b.elector.is_leader, LEASE + 5, "b to take over")
            assert time.monotonic() - t_kill <= LEASE + 5
            wait_until(lambda: b.delivered.by(name="p2"), 5, "b to send p2")

            # Incident 3 after the takeover goes straight out.
            rv = oom_status(api, ns, "p3", ts())["metadata"]["resourceVersion"]
            b.settle(rv)
            wait_until(lambda: b.delivered.by(name="p3"), 5, "b to send p3")
            pipeline_quiet = b.pipeline.drain(5)
            assert pipeline_quiet

            assert [x.name for x in b.delivered.items] == ["p2", "p3"]  # p1 not repeated
            everything = a.delivered.ids() + b.delivered.ids()
            assert len(everything) == len(set(everything)) == 3
            assert read_lease(cp, ns)["holderIdentity"] == "replica-b"
        finally:
            a.close()
            b.close()
