"""Folded repeats are told; terminations are new once; keys and causes are what they say."""
from datetime import timedelta

from rules.engine import Engine
from tests.factories import at, endpoint_slice, event, oom, pod, rec
from tests.rules.helpers import builtin_engine, engine_for

NO_FOLD = """
name: every-oom
source: pod
detector: oom_killed
"""


def test_folded_repeats_are_told_when_the_fold_window_ends():
    eng = builtin_engine()  # oom-killed folds repeats for 30m
    sent = []
    for i in range(12):  # 12 OOMs, 4 minutes apart: 44 minutes
        t = i * 240
        sent += eng.tick(at(t))
        sent += eng.process(rec(pod(restarts=i + 1, last=oom(t))), at(t + 1))
    sent += eng.tick(at(5000))
    assert [(a.status, a.sequence, a.count) for a in sent] == [
        ("firing", 1, 1), ("firing", 2, 8), ("firing", 1, 1), ("firing", 2, 4)]
    assert sent[1].fields["occurrences"] == 8 and sent[1].id != sent[0].id


def test_a_fold_window_without_repeats_ends_quietly():
    eng = builtin_engine()
    assert len(eng.process(rec(pod(restarts=1, last=oom(100))), at(101))) == 1
    assert eng.tick(at(100 + 1801)) == []


def test_a_crash_looping_container_never_re_detects_an_earlier_termination():
    # Each status shows the new termination and, as lastState, the one before it: on main the
    # memory was cleared at its bound inside this loop, and the 9th restart re-detected the 8th.
    eng = engine_for(NO_FOLD)
    fired = []
    for n in range(1, 30):
        status = rec(pod(restarts=n, terminated=oom(n * 100), last=oom((n - 1) * 100) if n > 1 else None))
        fired += eng.process(status, at(n * 100 + 1))
        fired += eng.process(status, at(n * 100 + 2))  # the same status again
    incidents = [a.incident for a in fired]
    assert len(incidents) == len(set(incidents)) == 29


def test_group_by_uid_and_container_keeps_pods_apart():
    eng = engine_for(NO_FOLD + "group_by: [uid, container]\nrepeat_interval: 1h\n")
    a = eng.process(rec(pod("web-a", restarts=1, last=oom(100))), at(101))
    b = eng.process(rec(pod("web-b", restarts=1, last=oom(100))), at(101))
    assert [x.key for x in a + b] == ["uid-web-a/app", "uid-web-b/app"]


def test_an_endpoint_drop_does_not_blame_a_termination_from_yesterday():
    eng = engine_for("name: ep\nsource: endpoints\ndetector: endpoints_unhealthy\n")
    day = 25 * 3600
    eng.process(rec(pod("web-pod-1", restarts=1, last=oom(0))), at(1))
    (alert,) = eng.process(rec(endpoint_slice([True, False], change=day)), at(day))
    assert "cause" not in alert.fields and "OOMKilled" not in alert.summary
    fresh = engine_for("name: ep\nsource: endpoints\ndetector: endpoints_unhealthy\n")
    fresh.process(rec(pod("web-pod-1", restarts=1, last=oom(day - 5))), at(day - 4))
    (alert,) = fresh.process(rec(endpoint_slice([True, False], change=day)), at(day))
    assert alert.fields["cause"]["reason"] == "OOMKilled"


def test_an_event_alert_names_the_workload_of_the_pod_it_is_about():
    eng = engine_for("name: warnings\nsource: event\ndetector: any\nmatch: {type: Warning}\n")
    eng.process(rec(pod("web-6d8f7c9b4-k7m2p")), at(1))  # the stream showed the pod and its Deployment
    (a,) = eng.process(rec(event("web.1", involved="web-6d8f7c9b4-k7m2p", last=2), "ADDED"), at(2))
    assert (a.workload_kind, a.workload_name, a.kind) == ("Deployment", "web", "Event")
    (b,) = eng.process(rec(event("other.1", involved="unseen-pod", last=3), "ADDED"), at(3))
    assert (b.workload_kind, b.workload_name) == ("Pod", "unseen-pod")
