"""Two replicas on one apiserver, each with its own watchers, engine, alert router, Lease loop
and dispatcher: one message per incident and robot; when the leader dies (no release), the
follower takes over within lease duration + 5 s, sends what happened after the death once,
and does not repeat what the dead leader delivered (its ids are on the Lease)."""
import time
from collections import Counter

import pytest

from tests.harness import kube
from tests.kube.helpers import wait_until
from tests.kube.test_apiserver_restart import oom_status
from tests.kube.test_failover_backlog import (incidents, leader_then_follower, pods, published,  # noqa: F401
                                              read_lease, replicas, robots)
from tests.kube.test_leader_election import LEASE
from tests.kube.test_oomkilled import ts

pytestmark = pytest.mark.kube


def test_failover_sends_post_kill_incidents_once(kube_control_plane, kube_namespace, robots, replicas):  # noqa: F811
    cp, ns = kube_control_plane, kube_namespace
    with cp.api_client() as api:
        pods(api, ns, ["p1", "p2", "p3"])
        a, b = leader_then_follower(replicas)

        # Incident 1 while a leads: a sends it, b decides it too but holds it.
        incidents(api, ns, ["p1"], a, b)
        wait_until(lambda: len(a.sent()) == 2, 15, "a to deliver p1")
        assert b.sent() == [] and [x.name for x in b.stack.decided.items] == ["p1"]
        wait_until(lambda: published(a), 10, "a to publish p1 on the Lease")

        a.kill()
        t_kill = time.monotonic()
        # Incident 2 right after the death, before anyone leads.
        rv = oom_status(api, ns, "p2", ts())["metadata"]["resourceVersion"]
        b.stack.settle(rv)
        wait_until(lambda: b.leading, LEASE + 5, "b to take over")
        assert time.monotonic() - t_kill <= LEASE + 5
        wait_until(lambda: ("wecom", "p2") in b.sent() and ("ding", "p2") in b.sent(), 10, "b to send p2")

        # Incident 3 after the takeover goes straight out.
        incidents(api, ns, ["p3"], b)
        wait_until(lambda: len(b.sent()) == 4, 10, "b to send p3")
        assert b.stack.pipeline.drain(5)
        wait_until(lambda: b.dispatcher.pending() == 0, 10, "b's outbox to drain")

        everything = Counter(a.sent() + b.sent())
        assert everything == Counter({(n, p): 1 for n in ("wecom", "ding") for p in ("p1", "p2", "p3")})
        assert sorted(p for _, p in b.sent()) == ["p2", "p2", "p3", "p3"]  # p1 not repeated
        assert read_lease(b)["spec"]["holderIdentity"] == "replica-b"
