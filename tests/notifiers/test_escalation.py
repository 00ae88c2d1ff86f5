"""Escalation (`escalate: [{after, notify}]` on a route): a firing still open after `after` goes
to the on-call robot too, once; not when it resolved, nor while silenced; a restart in between
neither loses nor repeats the step. Two robots' workers share the clock, so time here moves only
when the test advances it (a worker that waits blocks until then); the outbox holds the step."""
from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from notifiers import Dispatcher, Outbox
from notifiers.routes import RoutesError, parse_routes
from notifiers.samples import sample_alert
from notifiers.silences import Silence, Silences
from notifiers.routes import parse_matcher
from tests.notifiers.conftest import wait_for
from tests.notifiers.receivers import FakeClock

T0 = 10_000.0
TREE = [{"matchers": ["namespace=shop"], "notify": ["ops"],
         "escalate": [{"after": "30m", "notify": ["oncall"]}]}]


class ManualClock(FakeClock):
    """Moves only by `advance`; `sleep` waits (in real time, a little at a time, so a worker
    still notices a stop) until the test has advanced the clock that far."""

    def __init__(self) -> None:
        super().__init__()
        self._moved = threading.Condition()

    def advance(self, seconds: float) -> None:  # type: ignore[override]
        FakeClock.sleep(self, seconds)
        with self._moved:
            self._moved.notify_all()

    def sleep(self, seconds: float) -> None:
        end = self.monotonic() + seconds
        with self._moved:
            self._moved.wait_for(lambda: self.monotonic() >= end, timeout=0.05)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def test_escalate_is_parsed_and_inherited() -> None:
    routes = parse_routes(("ops",), [{**TREE[0], "routes": [{"matchers": ["severity=critical"]}]}],
                          robots=["ops", "oncall"])
    [match] = routes.targets(replace(sample_alert("oom"), severity="critical"), sample_alert("oom").at)
    assert [(s.after, s.notify) for s in match.escalate] == [(timedelta(minutes=30), ("oncall",))]


@pytest.mark.parametrize("escalate, path, message", [
    ([{"after": "30m", "notify": ["pager"]}], ("escalate", 0, "notify", 0), "no notifier named `pager`"),
    ([{"after": "soon", "notify": ["oncall"]}], ("escalate", 0, "after"), "expected a duration"),
    ([{"notify": ["oncall"]}], ("escalate", 0), "expected a mapping with `after`"),
    ([{"after": "5m", "notify": ["oncall"], "to": 1}], ("escalate", 0, "to"), "unknown key `to`"),
    ({"after": "5m"}, ("escalate",), "expected a list of steps"),
])
def test_bad_escalate_steps_are_reported_with_their_key_path(escalate: Any, path: tuple[Any, ...],
                                                             message: str) -> None:
    with pytest.raises(RoutesError) as err:
        parse_routes(("ops",), [{"matchers": ["namespace=shop"], "escalate": escalate}], robots=["ops", "oncall"])
    assert [(p, m) for p, m in err.value.problems if message in m][0][0] == ("routing", "routes", 0, *path)


@pytest.fixture
def robots(make_notifier: Any, wecom_rx: Any, ding_rx: Any) -> Any:
    return lambda: {"ops": make_notifier("wecom", wecom_rx.base, name="ops"),
                    "oncall": make_notifier("dingtalk", ding_rx.base, name="oncall")}


@pytest.fixture
def rig(robots: Any, clock: Any, outcomes: Any, tmp_path: Any) -> Any:
    made: list[Dispatcher] = []

    def make(**kw: Any) -> Dispatcher:
        d = Dispatcher(robots(), default_route=("ops",), outbox=Outbox(tmp_path / "ob", clock=clock.now),
                       clock=clock.now, on_outcome=outcomes, monotonic=clock.monotonic, sleep=clock.sleep,
                       routes=parse_routes(("ops",), TREE, robots=["ops", "oncall"]), **kw)
        made.append(d)
        return d
    yield make
    for d in made:
        d.stop(0.0)


def firing(clock: Any) -> Any:
    return replace(sample_alert("oom", now=clock.now()), incident="oom-1")


def test_still_firing_after_30_minutes_the_oncall_robot_gets_it_once(rig: Any, clock: Any, wecom_rx: Any,
                                                                    ding_rx: Any) -> None:
    d = rig()
    alert = firing(clock)
    d.submit(alert)
    d.start()
    wait_for(lambda: len(wecom_rx.accepted) == 1, what="the team's robot at once")
    clock.advance(29 * 60)
    reminder = replace(alert, sequence=2, at=clock.now())
    assert d.submit(reminder) == [f"ops|{reminder.id}"]  # the step is pending: nothing new for oncall
    wait_for(lambda: len(wecom_rx.accepted) == 2, what="the reminder")
    clock.advance(60)
    wait_for(lambda: d.pending() == 0, what="the escalation")
    assert len(ding_rx.accepted) == 1 and ding_rx.accepted[0].at >= T0 + 1800
    third = replace(alert, sequence=3, at=clock.now())
    d.submit(third)
    wait_for(lambda: len(wecom_rx.accepted) == 3, what="another reminder")
    assert len(ding_rx.accepted) == 1  # once per step


def test_resolved_at_20_minutes_never_escalates(rig: Any, clock: Any, ding_rx: Any, outcomes: Any) -> None:
    d = rig()
    alert = firing(clock)
    d.start()
    d.submit(alert)
    clock.advance(20 * 60)
    d.submit(replace(alert, status="resolved", at=clock.now()))
    clock.advance(20 * 60)
    wait_for(lambda: d.pending() == 0, what="settled")
    assert ding_rx.accepted == []
    assert [(o.notifier, o.code) for o in outcomes.of("skipped")] == [("oncall", "resolved")]


def test_silenced_never_escalates(rig: Any, clock: Any, ding_rx: Any, wecom_rx: Any, outcomes: Any) -> None:
    s = Silence(id="s-9", matchers=(parse_matcher("namespace=shop"),), starts_at=clock.now(),
                ends_at=clock.now() + timedelta(hours=2), created_by="ops", comment="", created_at=clock.now())
    d = rig(silences=lambda: Silences([s]))
    d.submit(firing(clock))
    d.start()
    clock.advance(31 * 60)
    wait_for(lambda: ("oncall", "silenced", "s-9") in [(o.notifier, o.result, o.code) for o in outcomes],
             what="the step settled silenced")
    clock.advance(90 * 60)
    wait_for(lambda: d.pending() == 0, what="the firing sent after the silence")
    assert ding_rx.accepted == []
    assert len(wecom_rx.accepted) == 1 and wecom_rx.accepted[0].at >= T0 + 7200


def test_a_restart_in_between_escalates_once(rig: Any, clock: Any, ding_rx: Any, wecom_rx: Any) -> None:
    alert = firing(clock)
    first = rig()
    first.submit(alert)
    assert first.stop(0.0) == 2  # the ops entry and the held escalation step
    clock.advance(10 * 60)
    second = rig()
    second.submit(alert)  # the same firing again (a replay): nothing new
    second.start()
    wait_for(lambda: len(wecom_rx.accepted) == 1, what="the team's robot after the restart")
    clock.advance(20 * 60)
    wait_for(lambda: second.pending() == 0, what="the escalation after the restart")
    second.stop(0.0)
    third = rig()
    third.submit(replace(alert, sequence=2, at=clock.now()))
    third.start()
    wait_for(lambda: third.pending() == 0, what="the reminder sent")
    assert len(ding_rx.accepted) == 1 and ding_rx.accepted[0].at >= T0 + 1800


def test_a_step_the_previous_leader_sent_is_not_written_again(rig: Any, clock: Any, outcomes: Any) -> None:
    from notifiers import KnownDelivered
    from notifiers.outbox import entry_id
    alert = firing(clock)
    d = rig(sending=False)
    d.start_sending(KnownDelivered(frozenset({entry_id("oncall", alert, step=1)})))
    assert d.submit(alert) == [f"ops|{alert.id}"]
    assert [(o.notifier, o.code) for o in outcomes.of("skipped")] == [("oncall", "delivered_elsewhere")]


def test_the_oncall_robot_that_was_paged_gets_the_resolved_once(rig: Any, clock: Any, ding_rx: Any,
                                                                 wecom_rx: Any, outcomes: Any) -> None:
    alert = firing(clock)
    first = rig()
    first.submit(alert)
    first.start()
    clock.advance(31 * 60)
    wait_for(lambda: first.pending() == 0 and len(ding_rx.accepted) == 1, what="the escalation")
    first.stop(0.0)
    clock.advance(9 * 60)
    second = rig()  # a restart between the page and the all-clear: the outbox's log remembers the page
    second.start()
    resolved = replace(alert, status="resolved", at=clock.now())
    assert sorted(second.submit(resolved)) == [f"oncall|{resolved.id}", f"ops|{resolved.id}"]
    assert second.submit(resolved) == []  # a replayed copy: once
    wait_for(lambda: second.pending() == 0, what="both 【恢复】")
    assert len(ding_rx.accepted) == 2 and "恢复" in ding_rx.texts()[1]
    assert len(wecom_rx.accepted) == 2


def test_a_robot_the_previous_leader_paged_gets_the_resolved_from_the_next_one(rig: Any, clock: Any,
                                                                              outcomes: Any) -> None:
    """After a failover the new leader's own log has no page to oncall (the step was the previous
    leader's, skipped here as delivered elsewhere), but oncall was paged and needs the 【恢复】."""
    from notifiers import KnownDelivered
    from notifiers.outbox import entry_id
    alert = firing(clock)
    d = rig(sending=False)
    d.start_sending(KnownDelivered(frozenset({entry_id("oncall", alert, step=1)})))
    assert d.submit(alert) == [f"ops|{alert.id}"]
    clock.advance(40 * 60)
    resolved = replace(alert, status="resolved", at=clock.now())
    assert sorted(d.submit(resolved)) == [f"oncall|{resolved.id}", f"ops|{resolved.id}"]


def test_a_resolved_the_previous_leader_sent_to_the_paged_robot_is_not_sent_again(rig: Any, clock: Any,
                                                                                  outcomes: Any) -> None:
    from notifiers import KnownDelivered
    from notifiers.outbox import entry_id
    alert = firing(clock)
    resolved = replace(alert, status="resolved", at=clock.now() + timedelta(minutes=40))
    d = rig(sending=False)
    d.start_sending(KnownDelivered(frozenset({entry_id("oncall", alert, step=1), entry_id("oncall", resolved)})))
    d.submit(alert)
    clock.advance(40 * 60)
    assert d.submit(resolved) == [f"ops|{resolved.id}"]
    assert ("oncall", "delivered_elsewhere") in [(o.notifier, o.code) for o in outcomes.of("skipped")
                                                 if o.alert_ids == (resolved.id,)]
