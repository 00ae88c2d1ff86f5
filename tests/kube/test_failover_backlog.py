"""Failover with a delivery backlog, on the real apiserver: two replicas, each with its own
watchers, engine, alert router, Lease loop, and a real dispatcher + outbox posting to
protocol-true WeCom and DingTalk robots.

The leader's DingTalk robot is blocked (130101, ~10 min) when the incidents happen, so the
leader delivers to WeCom and leaves the DingTalk entries in its outbox. Then it dies:
- its pod (and emptyDir) is gone: the new leader must send every DingTalk alert, once, and
  no WeCom alert again (per-robot delivered ids, published on the Lease);
- a follower whose wall clock runs 3 s behind must lose nothing;
- it comes back (same pod, outbox kept) as a follower: it must not replay its outbox, and when
  it leads again it drops what the other replica delivered meanwhile.
"""
from __future__ import annotations

import shutil
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from notifiers import Dispatcher, KnownDelivered, Outbox, build_notifier, delivered_hash
from tests.harness import kube
from tests.kube.helpers import utcnow, wait_until
from tests.kube.stack import Stack
from tests.kube.test_apiserver_restart import oom_status
from tests.kube.test_leader_election import LEASE, lease_cfg
from tests.kube.test_oomkilled import ts
from tests.notifiers.conftest import Outcomes
from tests.notifiers.receivers import DingRobot, DingTalkReceiver, FakeClock, WeComReceiver
from watcher.alerting import (DEFAULT_HOLD, MAX_PUBLISHED, inherited_delivered,
                              publish_delivered)
from watcher.normalize import parse_time

pytestmark = pytest.mark.kube

KEY = "wk-failover-1a2b3c4d"
TOKEN = "dt-failover-5e6f7a8b"
SECRET = "SECfailover9c0d1e2f3a4b"
PODS = [f"bk-{c}" for c in "abcde"]


class Robots:
    """One WeCom and one DingTalk robot, shared by both replicas (as in production)."""

    def __init__(self) -> None:
        # Receiver time stands still (the tests send far fewer than 20 messages a minute).
        clock = FakeClock(datetime.now(timezone.utc))
        self.wecom = WeComReceiver(clock, keys=(KEY,)).start()
        self.ding = DingTalkReceiver(clock, robots={TOKEN: DingRobot(SECRET)}).start()

    def block_dingtalk(self) -> None:
        """Someone sent too fast on the DingTalk robot: it answers 130101 until unblocked."""
        with self.ding.lock:
            self.ding.blocked_until[TOKEN] = self.ding.clock.monotonic() + 86400

    def unblock_dingtalk(self) -> None:
        with self.ding.lock:
            self.ding.blocked_until.clear()

    def close(self) -> None:
        self.wecom.stop()
        self.ding.stop()


class Replica:
    """One daemon replica: Stack (watchers → engine → router) → Dispatcher → robots."""

    def __init__(self, cp: Any, ns: str, identity: str, data_dir: Path, robots: Robots,
                 skew: float = 0.0) -> None:
        def clock() -> datetime:
            return utcnow() - timedelta(seconds=skew)

        self.identity, self.data_dir, self.outcomes = identity, data_dir, Outcomes()
        notifiers = {
            "wecom": build_notifier("wecom", {"type": "wecom", "url": (
                f"{robots.wecom.base}/cgi-bin/webhook/send?key={KEY}")}, clock=clock),
            "ding": build_notifier("ding", {"type": "dingtalk", "secret": SECRET, "url": (
                f"{robots.ding.base}/robot/send?access_token={TOKEN}")}, clock=clock),
        }
        self.outbox = Outbox(data_dir / "outbox", clock=clock)
        self.dispatcher = Dispatcher(notifiers, default_route=("wecom", "ding"), outbox=self.outbox,
                                     clock=clock, on_outcome=self.outcomes, sending=False)
        # As watcher/wiring.py connects them (without Elasticsearch: the Lease is the memory).
        self.stack = Stack(cp, namespace=ns, router=True, clock=clock, router_kwargs={
            "submit": self.dispatcher.submit, "hold": DEFAULT_HOLD,
            "on_leading": lambda: self.dispatcher.start_sending(KnownDelivered(
                hashes=inherited_delivered(self.stack.elector.inherited_annotations))),
            "on_following": self.dispatcher.stop_sending})
        self.stack.elect(lease_cfg(ns), identity, annotations=lambda: publish_delivered(
            self.dispatcher.recently_confirmed(clock() - DEFAULT_HOLD, MAX_PUBLISHED)))

    @property
    def leading(self) -> bool:
        return self.stack.elector.is_leader

    def start(self) -> "Replica":
        self.dispatcher.start()
        self.stack.start()
        return self

    def sent(self) -> list[tuple[str, str]]:
        """(notifier, alert name) of every alert a robot confirmed from this replica."""
        return [(o.notifier, alert_id.split("|")[1].rsplit("/", 2)[-2])
                for o in self.outcomes.of("sent") for alert_id in o.alert_ids]

    def kill(self) -> None:
        """kill -9: the Lease is left to expire, nothing more is sent."""
        self.stack.kill()
        self.dispatcher.stop(0.0)

    def close(self) -> None:
        self.dispatcher.stop(0.0)
        self.stack.close()


@pytest.fixture
def robots():
    r = Robots()
    yield r
    r.close()


@pytest.fixture
def replicas(kube_control_plane, kube_namespace, robots, tmp_path):
    made: list[Replica] = []

    def make(identity: str, *, skew: float = 0.0, data_dir: Path | None = None) -> Replica:
        r = Replica(kube_control_plane, kube_namespace, identity, data_dir or tmp_path / identity,
                    robots, skew=skew)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


def pods(api: Any, ns: str, names: list[str]) -> None:
    for name in names:
        kube.create_pod(api, ns, name)
        kube.patch_pod_status(api, ns, name, container_statuses=[kube.container_status("app")])


def incidents(api: Any, ns: str, names: list[str], *replicas: Replica) -> None:
    """An OOMKill in each pod, processed by every replica's engine."""
    rv = ""
    for name in names:
        rv = oom_status(api, ns, name, ts())["metadata"]["resourceVersion"]
    for r in replicas:
        r.stack.settle(rv)


def leader_then_follower(make: Any, **b_kw: Any) -> tuple[Replica, Replica]:
    a = make("replica-a").start()
    wait_until(lambda: a.leading, 10, "a to lead")
    b = make("replica-b", **b_kw).start()
    wait_until(lambda: b.stack.elector.holder == "replica-a", 10, "b to see a holding the lease")
    return a, b


def backlog_on_a(a: Replica, robots: Robots) -> None:
    """a delivered every alert to WeCom; DingTalk answered 130101 and the rest wait in a's
    outbox behind the ~10 min pause."""
    wait_until(lambda: Counter(n for n, _ in a.sent()) == {"wecom": len(PODS)}, 15, "WeCom from a")
    wait_until(lambda: 130101 in robots.ding.codes(), 15, "DingTalk's 130101 to a")
    wait_until(lambda: len(a.outbox) == len(PODS), 15, "the DingTalk backlog in a's outbox")
    # The backlog waits for minutes in production; here, a few renewals after the decisions.
    decided = utcnow()
    wait_until(lambda: renewed(a) > decided + timedelta(seconds=2), 10, "a to renew twice more")
    assert published(a)


def read_lease(r: Replica) -> dict:
    return kube.request(r.stack.api, "GET", f"/apis/coordination.k8s.io/v1/namespaces/"
                        f"{r.stack.elector.namespace}/leases/{r.stack.elector.name}")


def renewed(r: Replica) -> datetime:
    return parse_time(read_lease(r)["spec"]["renewTime"])


def published(r: Replica) -> bool:
    """The Lease carries every delivery of `r` (a crash within a renewal period of a delivery
    is the one window in which, without Elasticsearch, an alert is sent twice)."""
    on_lease = inherited_delivered(read_lease(r)["metadata"].get("annotations"))
    confirmed = r.outbox.recently_confirmed(utcnow() - DEFAULT_HOLD, MAX_PUBLISHED)
    return bool(confirmed) and {delivered_hash(i) for i in confirmed} <= on_lease


def test_backlog_of_a_dead_leader_reaches_every_robot_exactly_once(
        kube_control_plane, kube_namespace, robots, replicas):
    with kube_control_plane.api_client() as api:
        pods(api, kube_namespace, PODS + ["bk-late"])
        robots.block_dingtalk()
        a, b = leader_then_follower(replicas)
        incidents(api, kube_namespace, PODS, a, b)
        backlog_on_a(a, robots)

        a.kill()
        shutil.rmtree(a.data_dir)  # the pod and its emptyDir are gone
        robots.unblock_dingtalk()
        incidents(api, kube_namespace, ["bk-late"], b)  # during the failover
        wait_until(lambda: b.leading, LEASE + 5, "b to take over")
        wanted = Counter({(n, p): 1 for n in ("wecom", "ding") for p in PODS + ["bk-late"]})
        got = lambda: Counter(pair for r in (a, b) for pair in r.sent())  # noqa: E731
        wait_until(lambda: set(got()) == set(wanted), 20, "every alert on every robot")
        wait_until(lambda: b.dispatcher.pending() == 0, 10, "b's outbox to drain")
        assert got() == wanted


def test_a_follower_whose_clock_is_3s_behind_loses_nothing(
        kube_control_plane, kube_namespace, robots, replicas):
    with kube_control_plane.api_client() as api:
        pods(api, kube_namespace, ["sk-a", "sk-b"])
        a, b = leader_then_follower(replicas, skew=3.0)
        incidents(api, kube_namespace, ["sk-a"], a, b)
        wait_until(lambda: len(a.sent()) == 2, 15, "a to deliver sk-a")
        wait_until(lambda: published(a), 10, "a to publish its deliveries on the Lease")
        a.kill()
        incidents(api, kube_namespace, ["sk-b"], b)  # decided right after a's last renewal
        wait_until(lambda: b.leading, LEASE + 5, "b to take over")
        wanted = Counter({(n, p): 1 for n in ("wecom", "ding") for p in ("sk-a", "sk-b")})
        got = lambda: Counter(pair for r in (a, b) for pair in r.sent())  # noqa: E731
        wait_until(lambda: set(got()) == set(wanted), 20, "sk-b on every robot")
        wait_until(lambda: b.dispatcher.pending() == 0, 10, "b's outbox to drain")
        assert got() == wanted


def test_restarted_old_leader_does_not_replay_its_outbox_as_a_follower(
        kube_control_plane, kube_namespace, robots, replicas):
    with kube_control_plane.api_client() as api:
        pods(api, kube_namespace, PODS)
        robots.block_dingtalk()
        a, b = leader_then_follower(replicas)
        incidents(api, kube_namespace, PODS, a, b)
        backlog_on_a(a, robots)

        a.kill()  # the container restarts: same pod name, same emptyDir
        robots.unblock_dingtalk()
        wait_until(lambda: b.leading, LEASE + 5, "b to take over")
        wanted = Counter({(n, p): 1 for n in ("wecom", "ding") for p in PODS})
        everyone = [a, b]
        got = lambda: Counter(pair for r in everyone for pair in r.sent())  # noqa: E731
        wait_until(lambda: set(got()) == set(wanted), 20, "b to deliver the DingTalk backlog")

        again = replicas("replica-a", data_dir=a.data_dir).start()
        everyone.append(again)
        assert len(again.outbox) == len(PODS)  # the backlog from before the restart
        wait_until(lambda: again.stack.elector.holder == "replica-b", 10, "a to see b leading")
        wait_until(lambda: published(b), 10, "b to publish its deliveries on the Lease")
        b.kill()  # a leads again: what b delivered is dropped from a's outbox, not resent
        wait_until(lambda: again.leading, LEASE + 5, "a to take over again")
        wait_until(lambda: again.dispatcher.pending() == 0, 10, "a's outbox to settle")
        assert got() == wanted
