"""One source, many handlers: each step of a record's way fails alone (issue: a failing alert
submission used to skip the record's Elasticsearch documents, inside the same `try`)."""
from __future__ import annotations

import threading
from datetime import datetime, timezone

from rules.engine import Engine
from rules.loader import load_rule_set
from tests.factories import at, oom, pod, rec
from watcher.pipeline import Pipeline


def run(pipeline: Pipeline, *records) -> None:
    pipeline.start()
    try:
        for r in records:
            pipeline.put(r)
        assert pipeline.drain(10)
    finally:
        pipeline.stop()


def engine() -> Engine:
    return Engine(load_rule_set([]).rules, stale_before=at(0))


def test_a_failing_alert_path_still_hands_the_record_to_the_sink():
    errors, seen = [], []

    def submit(alert):
        raise OSError("disk full")

    p = Pipeline(engine(), clock=lambda: datetime.now(timezone.utc), on_alert=submit,
                 handlers=[lambda record, obs: seen.append((record.name, obs.terminations[0].ident if obs else None))],
                 on_error=errors.append)
    run(p, rec(pod(restarts=1, last=oom(100))))
    assert errors == ["alert"] and len(seen) == 1 and seen[0][1] is not None


def test_a_failing_handler_costs_neither_the_alert_nor_the_next_handler():
    errors, alerts, second = [], [], []

    def broken(record, obs):
        raise RuntimeError("sink bug")

    p = Pipeline(engine(), clock=lambda: datetime.now(timezone.utc), on_alert=alerts.append,
                 handlers=[broken, lambda record, obs: second.append(record.name)], on_error=errors.append)
    run(p, rec(pod(restarts=1, last=oom(100))), rec(pod("web-2", restarts=1, last=oom(101))))
    assert [a.rule for a in alerts] == ["oom-killed", "oom-killed"]
    assert second == ["web-6d8f7c9b4-k7m2p", "web-2"] and errors == ["handler", "handler"]


def test_the_state_is_updated_once_and_every_handler_reads_the_same_observation():
    observed = []
    eng = engine()
    calls = threading.Lock()
    count = {"observe": 0}
    real = eng.observe

    def counting(record):
        with calls:
            count["observe"] += 1
        return real(record)

    eng.observe = counting  # type: ignore[method-assign]
    p = Pipeline(eng, clock=lambda: datetime.now(timezone.utc), on_alert=lambda a: None,
                 handlers=[lambda r, o: observed.append(o), lambda r, o: observed.append(o)])
    run(p, rec(pod(restarts=1, last=oom(100))))
    assert count["observe"] == 1 and observed[0] is observed[1] and observed[0] is not None


def test_the_services_are_known_only_once_every_record_queued_before_the_list_ended_is_read():
    """The endpoint sources have listed (their records were queued first): the state may say it
    knows every Service only after those records are in it, never between them."""
    from tests.factories import endpoint_slice

    listed = threading.Event()
    eng = engine()
    known_while_reading: list[bool] = []
    p = Pipeline(eng, clock=lambda: datetime.now(timezone.utc), on_alert=lambda a: None,
                 handlers=[lambda record, obs: known_while_reading.append(eng.state.services.known)],
                 endpoints_listed=listed.is_set)
    for i in range(3):
        p.put(rec(endpoint_slice([True], service=f"s{i}", pods=[f"p{i}"]), "ADDED"))
    listed.set()
    run(p)
    assert known_while_reading == [False, False, False]
    assert eng.state.services.known


def test_the_services_stay_unknown_while_the_endpoints_have_not_listed():
    eng = engine()
    run(Pipeline(eng, clock=lambda: datetime.now(timezone.utc), on_alert=lambda a: None,
                 endpoints_listed=lambda: False), rec(pod()))
    assert not eng.state.services.known
