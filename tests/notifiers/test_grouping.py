"""Grouping waits (notifiers/grouping.py) through the dispatcher with the fake clock: alerts of
one group within `group_wait` go out as one message, other groups apart, later ones after
`group_interval`; a hold is on disk, so a restart neither sends early nor loses it."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import orjson
import pytest

from notifiers import Dispatcher, Outbox
from notifiers.routes import parse_routes
from notifiers.samples import sample_alert
from tests.notifiers.conftest import NAME, numbered_alerts, occurrences, wait_for

T0 = 10_000.0  # the fake monotonic clock's start


def routes(**options: Any) -> Any:
    tree = [{"matchers": ["namespace=~shop|pay"], "group_by": ["namespace"], **options}]
    return parse_routes((NAME,), tree, robots=[NAME])


@pytest.fixture
def ops(make_notifier: Any, wecom_rx: Any) -> dict[str, Any]:
    return {NAME: make_notifier("wecom", wecom_rx.base, name=NAME)}


def in_ns(alerts: list[Any], namespace: str) -> list[Any]:
    return [replace(a, namespace=namespace) for a in alerts]


def test_two_alerts_of_one_group_within_group_wait_are_one_message(
        ops: Any, make_dispatcher: Any, wecom_rx: Any, clock: Any) -> None:
    d = make_dispatcher(ops, routes=routes(group_wait="30s"))
    a, b = in_ns(numbered_alerts(2, clock=clock), "shop")
    d.submit(a)
    clock.advance(10)
    d.submit(b)
    d.start()
    wait_for(lambda: d.pending() == 0, what="the group flushed")
    assert len(wecom_rx.accepted) == 1
    assert occurrences(wecom_rx.texts(), "burst-pod-00") == occurrences(wecom_rx.texts(), "burst-pod-01") == 1
    assert wecom_rx.accepted[0].at >= T0 + 30  # not before the first alert's group_wait


def test_two_groups_are_two_messages(ops: Any, make_dispatcher: Any, wecom_rx: Any, clock: Any) -> None:
    d = make_dispatcher(ops, routes=routes(group_wait="30s"))
    a, b = numbered_alerts(2, clock=clock)
    d.submit(replace(a, namespace="shop"))
    d.submit(replace(b, namespace="pay"))
    d.start()
    wait_for(lambda: d.pending() == 0, what="both groups flushed")
    texts = wecom_rx.texts()
    assert len(texts) == 2
    assert sorted(occurrences([t], "burst-pod-00") for t in texts) == [0, 1]


def test_after_a_flush_the_group_waits_group_interval(ops: Any, make_dispatcher: Any, wecom_rx: Any,
                                                      clock: Any) -> None:
    d = make_dispatcher(ops, routes=routes(group_wait="30s", group_interval="5m"))
    first, later = in_ns(numbered_alerts(2, clock=clock), "shop")
    d.submit(first)
    d.start()
    wait_for(lambda: len(wecom_rx.accepted) == 1, what="the first flush")
    flushed = wecom_rx.accepted[0].at
    assert flushed >= T0 + 30
    d.submit(later)
    wait_for(lambda: d.pending() == 0, what="the second flush")
    assert len(wecom_rx.accepted) == 2
    assert wecom_rx.accepted[1].at >= flushed + 300


def test_without_group_wait_nothing_waits(ops: Any, make_dispatcher: Any, wecom_rx: Any, clock: Any) -> None:
    d = make_dispatcher(ops, routes=routes())
    d.start()
    d.submit(replace(sample_alert("oom", now=clock.now()), namespace="shop"))
    wait_for(lambda: d.pending() == 0, what="sent")
    assert wecom_rx.accepted[0].at < T0 + 1


def test_a_restart_during_group_wait_sends_once_not_early_not_lost(
        ops: Any, make_notifier: Any, wecom_rx: Any, clock: Any, outcomes: Any, tmp_path: Any) -> None:
    a, b = in_ns(numbered_alerts(2, clock=clock), "shop")

    def daemon(**kw: Any) -> Dispatcher:
        return Dispatcher({NAME: make_notifier("wecom", wecom_rx.base, name=NAME)}, default_route=(NAME,),
                          outbox=Outbox(tmp_path / "ob", clock=clock.now), clock=clock.now,
                          on_outcome=outcomes, monotonic=clock.monotonic, sleep=clock.sleep,
                          routes=routes(group_wait="30s"), **kw)

    first = daemon()
    first.submit(a)  # not started: its worker would make the fake time pass at once
    assert first.stop(0.0) == 1  # killed within group_wait: the held entry is on disk
    clock.advance(10)
    second = daemon()
    second.submit(b)  # joins the group held from before the restart
    second.start()
    try:
        wait_for(lambda: second.pending() == 0, what="the group flushed after the restart")
    finally:
        second.stop(0.0)
    assert len(wecom_rx.accepted) == 1
    assert [occurrences(wecom_rx.texts(), f"burst-pod-0{i}") for i in range(2)] == [1, 1]
    assert wecom_rx.accepted[0].at >= T0 + 30


def test_a_follower_holds_entries_too_and_sends_them_when_it_leads(
        ops: Any, make_notifier: Any, wecom_rx: Any, clock: Any, outcomes: Any, tmp_path: Any) -> None:
    d = Dispatcher(ops, default_route=(NAME,), outbox=Outbox(tmp_path / "ob", clock=clock.now), clock=clock.now,
                   on_outcome=outcomes, monotonic=clock.monotonic, sleep=clock.sleep, sending=False,
                   routes=routes(group_wait="30s"))
    d.start()
    try:
        d.submit(in_ns(numbered_alerts(1, clock=clock), "shop")[0])
        assert Outbox(tmp_path / "ob", clock=clock.now).entries()[0].not_before == clock.now() + timedelta(seconds=30)
        d.start_sending()
        wait_for(lambda: d.pending() == 0, what="sent once leading")
    finally:
        d.stop(0.0)
    assert len(wecom_rx.accepted) == 1 and wecom_rx.accepted[0].at >= T0 + 30


def test_a_reminder_is_thinned_out_by_the_routes_repeat_interval(
        ops: Any, make_dispatcher: Any, wecom_rx: Any, clock: Any, outcomes: Any) -> None:
    d = make_dispatcher(ops, routes=routes(repeat_interval="4h"))
    d.start()
    first = replace(sample_alert("oom", now=clock.now()), namespace="shop", incident="i1")
    d.submit(first)
    wait_for(lambda: d.pending() == 0, what="first sent")
    clock.advance(3600)
    assert d.submit(replace(first, sequence=2, at=clock.now())) == []
    assert [(o.result, o.code) for o in outcomes.of("skipped")] == [("skipped", "repeat_interval")]
    clock.advance(3 * 3600 + 1)
    assert d.submit(replace(first, sequence=5, at=clock.now())) != []
    wait_for(lambda: d.pending() == 0, what="a reminder after 4 h")
    assert len(wecom_rx.accepted) == 2


def test_an_entry_written_before_grouping_loads_with_no_hold(tmp_path: Any, clock: Any) -> None:
    alert = sample_alert("oom", now=clock.now())
    pending = tmp_path / "ob" / "pending"
    pending.mkdir(parents=True)
    old = {"v": 1, "id": f"{NAME}|{alert.id}", "notifier": NAME, "seq": 7,  # exactly the old _doc()
           "enqueued_at": clock.now().isoformat(), "alert": alert.to_dict()}
    (pending / "000000000007-abc.json").write_bytes(orjson.dumps(old))
    (tmp_path / "ob" / "confirmed.log").write_bytes(b'{"id":"ops|x","t":1714543200.0}\n')
    box = Outbox(tmp_path / "ob", clock=clock.now)
    [entry] = box.entries()
    assert (entry.id, entry.not_before, entry.group, entry.step) == (old["id"], None, "", 0)
    assert box.is_confirmed("ops|x") and box.firing_settled("ops", "x") is None


def test_a_held_entry_is_not_late_for_the_watchdog(ops: Any, make_dispatcher: Any, clock: Any) -> None:
    d = make_dispatcher(ops, routes=routes(group_wait="1h"))
    assert d.oldest_pending_age() is None  # nothing pending
    d.submit(in_ns(numbered_alerts(1, clock=clock), "shop")[0])
    assert d.pending() == 1
    assert d.oldest_pending_age() == 0.0  # pending, but held: nothing waits past its time


class LookAhead:
    """An inhibitor that makes every firing wait 45 s for a source (and has none)."""

    def observe(self, alert: Any) -> None: ...

    def look_ahead(self, alert: Any) -> timedelta:
        return timedelta(seconds=45)

    def inhibitor_of(self, alert: Any, now: Any) -> None:
        return None

    def inhibited_count(self, source: Any) -> int:
        return 0

    def note(self, source: Any, target: Any) -> None: ...


def test_an_inhibition_look_ahead_keeps_a_group_one_message_and_is_on_disk(
        ops: Any, make_notifier: Any, wecom_rx: Any, clock: Any, outcomes: Any, tmp_path: Any) -> None:
    a, b = in_ns(numbered_alerts(2, clock=clock), "shop")

    def daemon() -> Dispatcher:
        return Dispatcher({NAME: make_notifier("wecom", wecom_rx.base, name=NAME)}, default_route=(NAME,),
                          outbox=Outbox(tmp_path / "ob", clock=clock.now), clock=clock.now, on_outcome=outcomes,
                          monotonic=clock.monotonic, sleep=clock.sleep, routes=routes(group_wait="30s"),
                          inhibitor=LookAhead())
    first = daemon()
    first.submit(replace(a, at=clock.now()))
    clock.advance(5)
    first.submit(replace(b, at=clock.now()))  # its look-ahead ends 5 s after the group's
    first.stop(0.0)
    second = daemon()  # a restart: the extended hold is on disk
    assert {e.not_before for e in Outbox(tmp_path / "ob", clock=clock.now).entries()} == {
        clock.now() + timedelta(seconds=45)}
    second.start()
    try:
        wait_for(lambda: second.pending() == 0, what="the group flushed")
    finally:
        second.stop(0.0)
    assert len(wecom_rx.accepted) == 1 and wecom_rx.accepted[0].at >= T0 + 50
