"""The Lease loop on the real apiserver: one leader at a time, the Lease says who, a graceful
release hands over within a retry period, and a leader that cannot renew steps down before
the others may take over."""
import threading
import time
from datetime import timedelta

import pytest

from tests.harness import kube
from tests.kube.helpers import Stats, wait_until
from watcher.config import LeaderElection
from watcher.kube import LeaderElector, Unavailable
from watcher.normalize import parse_time

pytestmark = pytest.mark.kube

LEASE, RENEW, RETRY = 4.0, 3.0, 0.5


def lease_cfg(ns: str) -> LeaderElection:
    return LeaderElection(lease_name="kea-test", lease_namespace=ns, lease_duration=timedelta(seconds=LEASE),
                          renew_deadline=timedelta(seconds=RENEW), retry_period=timedelta(seconds=RETRY))


class Candidate:
    def __init__(self, cp, ns: str, identity: str, log: list) -> None:
        self.api, self.stop, self.stats = cp.api_client(), threading.Event(), Stats()
        self.previous = "unset"

        def started(previous):
            self.previous = previous
            log.append((time.monotonic(), identity, "start"))

        self.elector = LeaderElector(self.api, lease_cfg(ns), identity=identity, stop=self.stop, stats=self.stats,
                                     on_started_leading=started,
                                     on_stopped_leading=lambda: log.append((time.monotonic(), identity, "stop")))

    def close(self) -> None:
        self.stop.set()
        self.elector.join(5)
        self.api.close()


@pytest.fixture
def candidates(kube_control_plane, kube_namespace):
    made, log = [], []

    def make(identity: str) -> Candidate:
        c = Candidate(kube_control_plane, kube_namespace, identity, log)
        made.append(c)
        return c

    make.log = log
    yield make
    for c in made:
        c.close()


def read_lease(cp, ns: str) -> dict:
    with cp.api_client() as api:
        return kube.request(api, "GET", f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/kea-test")["spec"]


def test_one_leader_and_the_lease_names_it(kube_control_plane, kube_namespace, candidates):
    a, b = candidates("replica-a"), candidates("replica-b")
    a.elector.start()
    wait_until(lambda: a.elector.is_leader, 10, "a to lead")
    b.elector.start()
    wait_until(lambda: b.elector.holder == "replica-a", 10, "b to see a holding the lease")
    spec = read_lease(kube_control_plane, kube_namespace)
    assert (spec["holderIdentity"], spec["leaseDurationSeconds"]) == ("replica-a", 4)
    first = parse_time(spec["renewTime"])
    wait_until(lambda: parse_time(read_lease(kube_control_plane, kube_namespace)["renewTime"]) > first, 5,
               "a renewal")
    wait_until(lambda: a.previous != "unset", 5, "a's on_started_leading")
    assert not b.elector.is_leader and a.previous is None  # the lease did not exist before
    assert a.stats.count("leader") == 1 and b.stats.count("leader") == 0


def test_release_hands_over_within_a_retry_period(kube_control_plane, kube_namespace, candidates):
    a, b = candidates("replica-a"), candidates("replica-b")
    a.elector.start()
    wait_until(lambda: a.elector.is_leader, 10, "a to lead")
    b.elector.start()
    wait_until(lambda: b.elector.holder == "replica-a", 10, "b to see a")
    t0 = time.monotonic()
    a.elector.release()
    assert not a.elector.is_leader
    wait_until(lambda: b.elector.is_leader, LEASE, "b to take the released lease")
    assert time.monotonic() - t0 < LEASE  # not a whole lease duration: the release said "free"
    wait_until(lambda: b.previous != "unset", 5, "b's on_started_leading")
    assert b.previous is not None  # a's release time, for the router
    assert read_lease(kube_control_plane, kube_namespace)["leaseTransitions"] == 1
    assert [who for _, who, what in candidates.log] == ["replica-a", "replica-a", "replica-b"]


def test_a_leader_that_cannot_renew_steps_down_before_anyone_takes_over(kube_control_plane, kube_namespace,
                                                                        candidates):
    a, b = candidates("replica-a"), candidates("replica-b")
    a.elector.start()
    wait_until(lambda: a.elector.is_leader, 10, "a to lead")
    b.elector.start()
    wait_until(lambda: b.elector.holder == "replica-a", 10, "b to see a")

    def partitioned(*args, **kwargs):
        raise Unavailable("connection", "partitioned (test)")

    a.elector._transport.json = partitioned  # a's network to the apiserver is gone
    t_cut = time.monotonic()
    wait_until(lambda: b.elector.is_leader, LEASE + 5, "b to take over")
    wait_until(lambda: len(candidates.log) == 3, 5, "b's on_started_leading")
    (t_stop, _, _), (t_start, who, _) = [e for e in candidates.log if e[2] == "stop" or e[1] == "replica-b"]
    assert who == "replica-b" and t_stop < t_start  # never two leaders at once
    assert t_stop - t_cut <= RENEW + 1.0  # gave up within the renew deadline (+ one retry)
    assert not a.elector.is_leader


def test_a_slow_on_started_leading_does_not_stop_renewals(kube_control_plane, kube_namespace):
    """The router's takeover may query the alert history; renewals must go on meanwhile."""
    release = threading.Event()
    with kube_control_plane.api_client() as api:
        stop = threading.Event()
        e = LeaderElector(api, lease_cfg(kube_namespace), identity="slow", stop=stop,
                          on_started_leading=lambda previous: release.wait(RENEW + 2),
                          on_stopped_leading=lambda: None)
        e.start()
        try:
            wait_until(lambda: e.is_leader, 10, "to lead")
            first = parse_time(read_lease(kube_control_plane, kube_namespace)["renewTime"])
            time.sleep(RENEW + 1)  # longer than the renew deadline, while the callback blocks
            assert e.is_leader
            assert parse_time(read_lease(kube_control_plane, kube_namespace)["renewTime"]) > first
        finally:
            release.set()
            e.release()
