from datetime import timedelta

from notifiers import sample_alert
from tests.factories import at
from watcher.alerting import AlertRouter


class Clock:
    def __init__(self) -> None:
        self.now = at(0)

    def __call__(self):
        return self.now


def test_leader_submits_follower_holds_then_forwards_only_after_last_renewal():
    clock, sent = Clock(), []
    router = AlertRouter(submit=sent.append, clock=clock, hold=timedelta(minutes=2))
    before = sample_alert("oom", now=at(0))
    router(before)  # decided at t=0, while the old leader was alive (it sent this one)
    clock.now = at(20)
    after = sample_alert("unhealthy", now=at(20))
    router(after)  # decided after the old leader's last renewal at t=10
    assert sent == []
    assert router.became_leader(previous_renewal=at(10)) == 1
    assert sent == [after]
    late = sample_alert("oom", now=at(30), status="resolved")
    router(late)
    assert sent == [after, late]


def test_held_alerts_expire_and_history_dedups():
    clock, sent = Clock(), []
    first, second = sample_alert("oom", now=at(0)), sample_alert("unhealthy", now=at(0))
    router = AlertRouter(submit=sent.append, clock=clock, hold=timedelta(seconds=60),
                         delivered_ids=lambda since: {second.id})
    router(first)
    clock.now = at(100)
    router(second)
    assert router.became_leader(previous_renewal=None) == 0  # first expired, second delivered already
    router.lost_leadership()
    router(first)
    assert sent == []


def test_alert_decided_just_before_the_renewal_is_still_forwarded():
    from watcher.alerting import FAILOVER_MARGIN

    clock, sent = Clock(), []
    router = AlertRouter(submit=sent.append, clock=clock)
    clock.now = at(10) - FAILOVER_MARGIN / 2  # a follower a little ahead of the leader
    a = sample_alert("oom", now=at(10))
    router(a)
    assert router.became_leader(previous_renewal=at(10)) == 1 and sent == [a]


def test_full_hold_buffer_drops_oldest_and_says_so(caplog):
    clock, dropped = Clock(), []
    router = AlertRouter(submit=lambda a: None, clock=clock, max_held=2, on_dropped=dropped.append)
    from dataclasses import replace

    alerts = [replace(sample_alert("oom", now=at(i)), key=f"k{i}") for i in range(3)]
    for a in alerts:
        router(a)
    assert dropped == [alerts[0]] and "hold buffer full" in caplog.text
