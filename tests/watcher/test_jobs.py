from datetime import timedelta

from tests.factories import at
from watcher.config import Job, Scheduler
from watcher.jobs import Watchdog, build_scheduler


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_watchdog_fires_for_silent_watcher_only_while_api_answers_and_resolves():
    clock, reachable = Clock(), {"ok": True}
    last = {"pods": 1000.0}
    dog = Watchdog(cluster="c", silence=timedelta(minutes=15), watchers={"pods": lambda: last["pods"]},
                   api_reachable=lambda: reachable["ok"], outbox_pending=lambda: 0, last_confirmed=lambda: None,
                   monotonic=clock)
    assert dog.check(at(0)) == []
    clock.t += 901
    reachable["ok"] = False
    assert dog.check(at(901)) == []  # API down: the watcher is not the problem
    reachable["ok"] = True
    fired = dog.check(at(902))
    assert [(a.rule, a.status, a.key) for a in fired] == [("kea-watchdog", "firing", "watch/pods")]
    assert dog.check(at(903)) == []  # once per problem
    last["pods"] = clock.t
    resolved = dog.check(at(904))
    assert [(a.status, a.incident) for a in resolved] == [("resolved", fired[0].incident)]


def test_watchdog_outbox_stuck():
    clock = Clock()
    dog = Watchdog(cluster="c", silence=timedelta(seconds=60), watchers={}, api_reachable=lambda: True,
                   outbox_pending=lambda: 3, last_confirmed=lambda: 1000.0, monotonic=clock)
    assert dog.check(at(0)) == []
    clock.t += 61
    assert [a.key for a in dog.check(at(61))] == ["outbox"]


def test_scheduler_honours_enabled_cron_and_interval():
    cfg = Scheduler(retention=Job(cron="30 3 * * *"), digest=Job(enabled=False, cron="0 9 * * *"),
                    watchdog=Job(interval=timedelta(minutes=1)))
    sched = build_scheduler(cfg, "Asia/Shanghai", {"retention": lambda: None, "digest": lambda: None,
                                                   "watchdog": lambda: None})
    sched.start(paused=True)
    try:
        jobs = {j.id: j for j in sched.get_jobs()}
        assert set(jobs) == {"retention", "watchdog"}
        assert "hour='3'" in str(jobs["retention"].trigger) and "minute='30'" in str(jobs["retention"].trigger)
        assert jobs["watchdog"].trigger.interval == timedelta(minutes=1)
    finally:
        sched.shutdown(wait=False)


def test_daily_digest_renders_through_a_robot():
    from notifiers import build_notifier
    from watcher.digest import digest_alert

    summary = {"incidents": 7, "resolved": 5, "failed_deliveries": 0, "by_rule": {"oom-killed": 4, "endpoints-unhealthy": 3},
               "by_namespace": {"shop": 6, "portal": 1}, "warning_events": 1234,
               "top_warning_reasons": [{"reason": "BackOff", "count": 900}, {"reason": "Unhealthy", "count": 300}]}
    alert = digest_alert("prod-bj-1", summary, at(0))
    n = build_notifier("ops", {"type": "dingtalk", "url": "https://x.invalid/robot/send?access_token=t", "keywords": ["日报"]})
    text = n.build([alert]).message.text
    for part in ("【日报】prod-bj-1", "新告警 7", "已恢复 5", "oom-killed: 4", "shop 6", "Warning 事件 1234", "BackOff 900"):
        assert part in text, (part, text)


def test_watchdog_does_not_call_the_outbox_stuck_before_anything_could_be_confirmed():
    clock = Clock()
    age = {"s": 0.0}
    dog = Watchdog(cluster="c", silence=timedelta(seconds=900), watchers={}, api_reachable=lambda: True,
                   outbox_pending=lambda: 3, last_confirmed=lambda: None, monotonic=clock,
                   oldest_pending_age=lambda: age["s"], sending_since=lambda: 1000.0)
    clock.t += 60
    age["s"] = 60.0
    assert dog.check(at(60)) == []  # nothing confirmed yet, but nothing has waited 900 s either
    clock.t += 841
    age["s"] = 901.0
    (fired,) = dog.check(at(901))
    assert fired.key == "outbox" and "oldest queued 901s ago" in fired.summary


def test_watchdog_measures_an_old_outbox_from_start_or_leadership_whichever_is_later():
    clock = Clock()
    leading = {"since": None}
    dog = Watchdog(cluster="c", silence=timedelta(seconds=900), watchers={}, api_reachable=lambda: True,
                   outbox_pending=lambda: 3, last_confirmed=lambda: None, monotonic=clock,
                   oldest_pending_age=lambda: 7200.0, sending_since=lambda: leading["since"])
    clock.t += 1000
    assert dog.check(at(1000)) == []  # a follower sends nothing: its outbox waits by design
    leading["since"] = clock.t
    clock.t += 600
    assert dog.check(at(1600)) == []  # entries from before the restart; leading for 600 s only
    clock.t += 301
    assert [a.key for a in dog.check(at(1901))] == ["outbox"]
