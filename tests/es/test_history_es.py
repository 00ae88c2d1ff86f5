"""Alert history on the real node: one doc per delivery, open incidents restored after a
restart without re-notification, delivered ids for a new leader, the digest counts."""
import itertools
from datetime import timedelta

import pytest
from elasticsearch import Elasticsearch

from tests.es.helpers import Stats, events, fixed_clock, prefix_of, wait_for
from tests.factories import T0, at, endpoint_slice, oom, pod, rec
from tests.rules.helpers import builtin_engine
from watcher.es import AlertHistory, EsSink, install_templates

pytestmark = pytest.mark.es


def ticking():
    """A clock that moves 1 s per call: delivery times differ, deterministically."""
    n = itertools.count()
    return lambda: T0 + timedelta(hours=1, seconds=next(n))


def history(es_client, es_prefix, **kw):
    prefix = prefix_of(es_prefix)
    install_templates(es_client, prefix)
    return AlertHistory(es_client, prefix=prefix, clock=kw.pop("clock", ticking()), **kw)


def oom_alert(engine=None, finished=100, restarts=1):
    engine = engine or builtin_engine(0)
    (a,) = engine.process(rec(pod(restarts=restarts, last=oom(finished))), at(finished))
    return a


def endpoint_incident():
    """(firing, resolved) of the built-in endpoints-unhealthy rule."""
    e = builtin_engine(0)
    e.process(rec(endpoint_slice([True, True]), "ADDED"), at(1))
    e.process(rec(endpoint_slice([True, False], change=10)), at(10))
    (firing,) = e.tick(at(45))
    (resolved,) = e.process(rec(endpoint_slice([True, True], change=60)), at(60))
    return firing, resolved


def test_one_doc_per_delivery_retries_overwrite_and_stale_replays_cannot_regress(es_client, es_prefix, tmp_path):
    h = history(es_client, es_prefix)
    a = oom_alert()
    stale = h.doc(a, notifier="ops", result="pending")  # e.g. left in a spool
    assert h.record(a, notifier="ops", result="failed", code="503", detail="server busy")
    assert h.record(a, notifier="ops", result="sent", code="0")  # the retry succeeded
    assert h.record(a, notifier="dev", result="failed",
                    detail="POST https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=SECRETKEY12345 timed out")
    stats = Stats()
    sink = EsSink(es_client, prefix=h.prefix, spool_dir=tmp_path, spool_max_bytes=10**6, flush_interval=0.1,
                  clock=fixed_clock, stats=stats)
    sink.start()
    sink.put_docs([stale])
    wait_for(lambda: stats.total("docs_duplicate", index_kind="alerts") == 1, timeout=30, what="stale doc refused")
    sink.stop(5)
    es_client.indices.refresh(index=h.index)
    hits = {d["_id"]: d["_source"] for d in es_client.search(index=h.index)["hits"]["hits"]}
    assert set(hits) == {f"{a.id}|ops", f"{a.id}|dev"}
    ops = hits[f"{a.id}|ops"]
    assert (ops["result"], ops["code"], ops["rule"], ops["status"], ops["alert_id"]) == ("sent", "0", "oom-killed", "firing", a.id)
    assert ops["fields"]["exit_code"] == 137 and ops["workload"] == "Deployment/web"
    assert "SECRETKEY12345" not in hits[f"{a.id}|dev"]["detail"]


def test_open_incidents_are_restored_and_a_restart_does_not_renotify(es_client, es_prefix):
    h = history(es_client, es_prefix)
    engine = builtin_engine(0)
    first = oom_alert(engine)
    firing_ep, resolved_ep = endpoint_incident()
    for alert in (first, firing_ep, resolved_ep):
        h.record(alert, notifier="ops", result="sent")
    h.record(first, notifier="dev", result="failed")
    other = builtin_engine(0).process(rec(pod(restarts=1, last=oom(100)), cluster="other"), at(100))[0]
    h.record(other, notifier="ops", result="sent")
    es_client.indices.refresh(index=h.index)

    restored = h.open_incidents("test")
    assert [(a.rule, a.id) for a in restored] == [("oom-killed", first.id)]  # resolved one is closed
    assert restored[0] == first.__class__.from_dict(first.to_dict())

    # the daemon restarts at t=300: the start-up LIST shows the same termination, then the
    # container OOMs again within the rule's 30 min repeat window
    fresh = builtin_engine(300)
    assert fresh.restore(restored) == 1
    assert fresh.process(rec(pod(restarts=1, last=oom(100)), "ADDED", listed=True), at(300)) == []
    assert fresh.process(rec(pod(restarts=2, last=oom(400))), at(400)) == []  # folded, not re-sent
    # without the history the same restart would notify again
    forgetful = builtin_engine(300)
    forgetful.process(rec(pod(restarts=1, last=oom(100)), "ADDED", listed=True), at(300))
    assert [a.status for a in forgetful.process(rec(pod(restarts=2, last=oom(400))), at(400))] == ["firing"]


def test_restored_endpoint_incident_resolves_instead_of_being_forgotten(es_client, es_prefix):
    h = history(es_client, es_prefix)
    firing, _ = endpoint_incident()
    h.record(firing, notifier="ops", result="sent")
    es_client.indices.refresh(index=h.index)
    engine = builtin_engine(100)
    engine.restore(h.open_incidents("test"))
    assert engine.process(rec(endpoint_slice([True, False], change=10), listed=True), at(100)) == []
    (resolved,) = engine.process(rec(endpoint_slice([True, True], change=110)), at(110))
    assert (resolved.status, resolved.incident) == ("resolved", firing.incident)


def test_latest_reminder_is_what_gets_restored(es_client, es_prefix):
    h = history(es_client, es_prefix)
    first = oom_alert()
    reminder = first.__class__.from_dict({**first.to_dict(), "sequence": 2, "at": at(2000).isoformat(), "count": 3})
    h.record(first, notifier="ops", result="sent")
    h.record(reminder, notifier="ops", result="sent")
    es_client.indices.refresh(index=h.index)
    (restored,) = h.open_incidents("test")
    assert (restored.sequence, restored.count, restored.id) == (2, 3, reminder.id)


def test_delivered_ids_for_a_new_leader(es_client, es_prefix):
    h = history(es_client, es_prefix)
    a, b = oom_alert(), endpoint_incident()[0]
    h.record(a, notifier="ops", result="sent")
    h.record(a, notifier="dev", result="failed")
    h.record(b, notifier="ops", result="pending")
    es_client.indices.refresh(index=h.index)
    assert h.delivered_ids(T0) == {a.id}
    assert h.delivered_ids(T0, per_notifier=True) == {f"{a.id}|ops"}
    assert h.delivered_ids(T0 + timedelta(days=1)) == set()
    assert h.delivered_ids(T0, cluster="other") == set()


def test_empty_history_reads_as_empty(es_client, es_prefix):
    h = AlertHistory(es_client, prefix=prefix_of(es_prefix))  # no index yet
    assert h.open_incidents("test") == [] and h.delivered_ids(T0) == set()
    assert h.digest("test", T0)["incidents"] == 0


def test_digest_counts_incidents_and_top_warning_reasons(es_client, es_prefix, tmp_path):
    h = history(es_client, es_prefix)
    a = oom_alert()
    firing, resolved = endpoint_incident()
    for alert in (a, firing, resolved):
        h.record(alert, notifier="ops", result="sent")
        h.record(alert, notifier="dev", result="failed")  # two deliveries, still one incident
    stats = Stats()
    sink = EsSink(es_client, prefix=h.prefix, spool_dir=tmp_path, spool_max_bytes=10**7, flush_interval=0.1,
                  clock=fixed_clock, stats=stats)
    sink.install_templates()
    sink.start()
    for r in events(40, spread_seconds=60):
        sink.put(r)
    wait_for(lambda: stats.total("docs_indexed") == 40, timeout=30, what="events indexed")
    sink.stop(5)
    es_client.indices.refresh(index=f"{h.prefix}-*")
    d = h.digest("test", T0 - timedelta(hours=1), until=T0 + timedelta(days=1))
    assert d["incidents"] == 2 and d["resolved"] == 1 and d["failed_deliveries"] == 3
    assert d["by_rule"] == {"oom-killed": 1, "endpoints-unhealthy": 1}
    assert d["by_namespace"] == {"shop": 2} and d["by_severity"] == {"critical": 2}
    assert d["warning_events"] == 30
    assert {r["reason"]: r["count"] for r in d["top_warning_reasons"]} == {"BackOff": 10, "Unhealthy": 10, "FailedMount": 10}


def test_write_while_es_unreachable_goes_through_the_sink(es_client, es_prefix, tmp_path):
    prefix = prefix_of(es_prefix)
    stats = Stats()
    sink = EsSink(es_client, prefix=prefix, spool_dir=tmp_path, spool_max_bytes=10**6, flush_interval=0.1,
                  clock=fixed_clock, stats=stats)
    sink.install_templates()
    sink.start()
    dead = Elasticsearch("http://127.0.0.1:9", request_timeout=1, max_retries=0)
    h = AlertHistory(dead, prefix=prefix, clock=ticking(), sink=sink)
    a = oom_alert()
    assert h.record(a, notifier="ops", result="sent") is False
    wait_for(lambda: stats.total("docs_indexed", index_kind="alerts") == 1, timeout=30, what="alert doc via sink")
    sink.stop(5)
    # no explicit refresh: open_incidents sees the last second's writes by itself
    assert AlertHistory(es_client, prefix=prefix).open_incidents("test")[0].id == a.id
