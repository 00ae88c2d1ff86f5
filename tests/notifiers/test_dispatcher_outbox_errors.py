"""An outbox that cannot be written (disk full, EIO) after the engine already decided the
alert: the dispatcher keeps it in a bounded in-memory queue, counts and logs it, writes it
on the next submit or by its timer, and drops (counted, logged) only the oldest beyond the
bound."""
from __future__ import annotations

import errno
from typing import Any

import pytest

from notifiers import Dispatcher, Outbox
from tests.notifiers.conftest import numbered_alerts, wait_for


class DiskFullOutbox(Outbox):
    broken = True

    def put(self, notifier: str, alert: Any, **hold: Any) -> Any:
        if self.broken:
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().put(notifier, alert, **hold)


@pytest.fixture
def rig(clock: Any, make_notifier: Any, wecom_rx: Any, outcomes: Any, tmp_path: Any):
    made: list[Dispatcher] = []

    def make(**kw: Any) -> tuple[Dispatcher, DiskFullOutbox]:
        box = DiskFullOutbox(tmp_path / "ob", clock=clock.now)
        d = Dispatcher({"ops": make_notifier("wecom", wecom_rx.base, name="ops")}, default_route=("ops",),
                       outbox=box, clock=clock.now, on_outcome=outcomes, monotonic=clock.monotonic,
                       sleep=clock.sleep, **kw)
        made.append(d)
        d.start()
        return d, box

    yield make
    for d in made:
        d.stop(0.0)


def sent(outcomes: Any) -> list[str]:
    return sorted(i for o in outcomes.of("sent") for i in o.alert_ids)


def test_a_failed_write_keeps_the_alert_and_the_next_submit_writes_it(rig: Any, outcomes: Any, caplog: Any) -> None:
    d, box = rig(rewrite_seconds=3600)
    first, second = numbered_alerts(2)
    assert d.submit(first) == []  # no exception into the pipeline
    assert d.pending() == 1
    assert [(o.result, o.code) for o in outcomes.of("deferred")] == [("deferred", "outbox_write_failed")]
    assert "outbox write failed" in caplog.text and "No space left" in caplog.text
    box.broken = False
    d.submit(second)
    wait_for(lambda: len(sent(outcomes)) == 2, what="both delivered")
    assert sent(outcomes) == sorted([first.id, second.id]) and d.pending() == 0


def test_the_timer_writes_held_alerts_without_a_new_submit(rig: Any, outcomes: Any) -> None:
    d, box = rig(rewrite_seconds=0.05)
    (alert,) = numbered_alerts(1)
    d.submit(alert)
    box.broken = False
    wait_for(lambda: sent(outcomes) == [alert.id], what="the held alert, written by the timer and sent")


def test_beyond_the_bound_the_oldest_is_dropped_counted_and_logged(rig: Any, outcomes: Any, caplog: Any) -> None:
    d, box = rig(rewrite_seconds=0.05, max_unwritten=2)
    alerts = numbered_alerts(3)
    for a in alerts:
        d.submit(a)
    assert [o.alert_ids for o in outcomes.of("dropped")] == [(alerts[0].id,)]
    assert "dropped the oldest" in caplog.text
    box.broken = False
    wait_for(lambda: sent(outcomes) == sorted(a.id for a in alerts[1:]), what="the two kept alerts")


def test_alerts_still_unwritten_at_stop_are_reported_lost(rig: Any, outcomes: Any, caplog: Any) -> None:
    d, _ = rig(rewrite_seconds=3600)
    (alert,) = numbered_alerts(1)
    d.submit(alert)
    d.stop(0.0)
    assert [o.alert_ids for o in outcomes.of("dropped")] == [(alert.id,)]
    assert "lost" in caplog.text
