"""Only the Lease holder sends: a dispatcher built with `sending=False` delivers nothing, not
even its outbox from before a restart, until `start_sending(known)`; that first settles the
(notifier, alert) pairs the previous leader delivered — exactly those, per robot — and skips
them in later submits; `stop_sending()` holds everything again."""
from __future__ import annotations

from typing import Any

import pytest

from notifiers import Dispatcher, KnownDelivered, Outbox, delivered_hash
from tests.notifiers.conftest import numbered_alerts, wait_for


@pytest.fixture
def rig(clock: Any, make_notifier: Any, wecom_rx: Any, ding_rx: Any, outcomes: Any, tmp_path: Any):
    made: list[Dispatcher] = []

    def make(outbox: Outbox) -> Dispatcher:
        d = Dispatcher({"wecom": make_notifier("wecom", wecom_rx.base),
                        "ding": make_notifier("dingtalk", ding_rx.base, name="ding")},
                       default_route=("wecom", "ding"), outbox=outbox, clock=clock.now,
                       on_outcome=outcomes, monotonic=clock.monotonic, sleep=clock.sleep,
                       sending=False)
        made.append(d)
        return d

    yield make
    for d in made:
        d.stop(0.0)


def sent_pairs(outcomes: Any) -> list[tuple[str, str]]:
    return sorted((o.notifier, i) for o in outcomes.of("sent") for i in o.alert_ids)


def test_a_follower_delivers_nothing_until_it_leads(rig: Any, clock: Any, wecom_rx: Any,
                                                   outcomes: Any, tmp_path: Any) -> None:
    box = Outbox(tmp_path / "ob", clock=clock.now)
    (a,) = numbered_alerts(1, clock=clock)
    box.put("wecom", a)  # left from before a restart
    d = rig(box)
    d.start()
    d.submit(numbered_alerts(2, clock=clock)[1])
    d.stop_sending()  # idempotent while following
    assert (d.sending, d.pending(), wecom_rx.accepted, outcomes.of("sent")) == (False, 3, [], [])
    d.start_sending()
    wait_for(lambda: len(sent_pairs(outcomes)) == 3, what="delivery once leading")
    assert d.pending() == 0


def test_takeover_skips_exactly_the_pairs_the_previous_leader_delivered(
        rig: Any, clock: Any, outcomes: Any, tmp_path: Any) -> None:
    a, b, c = numbered_alerts(3, clock=clock)
    box = Outbox(tmp_path / "ob", clock=clock.now)
    for alert in (a, b):
        for name in ("wecom", "ding"):
            box.put(name, alert)
    d = rig(box)
    d.start()
    # The old leader got a to WeCom (history: full id) and b to DingTalk (Lease: hash), and c
    # to WeCom; everything else is still owed.
    known = KnownDelivered(ids=frozenset({f"wecom|{a.id}", f"wecom|{c.id}"}),
                           hashes=frozenset({delivered_hash(f"ding|{b.id}")}))
    assert d.start_sending(known) == 2
    d.submit(c)
    want = sorted([("ding", a.id), ("wecom", b.id), ("ding", c.id)])
    wait_for(lambda: len(sent_pairs(outcomes)) == 3, what="the rest delivered")
    assert sent_pairs(outcomes) == want and d.pending() == 0
    skipped = sorted((o.notifier, i) for o in outcomes.of("skipped") for i in o.alert_ids)
    assert skipped == sorted([("wecom", a.id), ("ding", b.id), ("wecom", c.id)])
    assert {o.code for o in outcomes.of("skipped")} == {"delivered_elsewhere"}
    assert d.submit(a) == [] and d.submit(b) == []  # settled durably in the outbox
    assert Outbox(tmp_path / "ob", clock=clock.now).is_confirmed(f"wecom|{a.id}")


def test_lost_leadership_holds_new_entries(rig: Any, clock: Any, outcomes: Any, tmp_path: Any) -> None:
    d = rig(Outbox(tmp_path / "ob", clock=clock.now))
    d.start()
    d.start_sending()
    first, second = numbered_alerts(2, clock=clock)
    d.submit(first)
    wait_for(lambda: len(sent_pairs(outcomes)) == 2, what="first delivered")
    d.stop_sending()
    d.submit(second)
    assert d.pending() == 2 and len(sent_pairs(outcomes)) == 2
    d.start_sending()
    wait_for(lambda: len(sent_pairs(outcomes)) == 4, what="second delivered after leading again")
    assert d.pending() == 0


def test_takeover_sends_even_when_the_outbox_cannot_record_the_skipped(
        rig: Any, clock: Any, outcomes: Any, tmp_path: Any) -> None:
    a, b = numbered_alerts(2, clock=clock)
    box = Outbox(tmp_path / "ob", clock=clock.now)
    for alert in (a, b):
        box.put("wecom", alert)
    d = rig(box)
    d.start()

    confirm, calls = box.confirm, []

    def disk_full_once(ids: Any) -> None:  # the takeover's write fails; later ones work
        calls.append(ids)
        if len(calls) == 1:
            raise OSError(28, "No space left on device")
        confirm(ids)

    box.confirm = disk_full_once  # type: ignore[method-assign]
    assert d.start_sending(KnownDelivered(ids=frozenset({f"wecom|{a.id}"}))) == 1
    wait_for(lambda: outcomes.of("sent"), what="b sent")
    assert d.sending and sent_pairs(outcomes) == [("wecom", b.id)]
