"""The sink against the real node: bulk volume, idempotent replay, rejections, the other kinds."""
import logging

import pytest

from tests.es.helpers import Stats, events, fixed_clock, prefix_of, wait_for
from tests.factories import endpoint_slice, oom, pod, rec
from watcher.es import Doc, EsSink

pytestmark = pytest.mark.es


def make_sink(es_client, prefix, spool_dir, stats, **kw):
    kw.setdefault("flush_interval", 0.2)
    sink = EsSink(es_client, prefix=prefix, spool_dir=spool_dir, spool_max_bytes=10**8, clock=fixed_clock,
                  stats=stats, **kw)
    assert sink.install_templates()
    sink.start()
    return sink


def settled(stats):
    return stats.total("docs_indexed") + stats.total("docs_duplicate") + stats.total("docs_rejected")


def test_10000_events_then_the_same_batch_replayed_stays_10000(es_client, es_prefix, tmp_path):
    prefix = prefix_of(es_prefix)
    batch = events(10_000)
    stats = Stats()
    sink = make_sink(es_client, prefix, tmp_path / "spool", stats)
    for r in batch:
        sink.put(r)
    wait_for(lambda: settled(stats) == 10_000, timeout=120, what="10,000 events acknowledged")
    sink.stop(10)
    assert stats.total("docs_indexed", index_kind="events") == 10_000
    assert stats.total("docs_rejected") == 0 and stats.observations["bulk_seconds"]
    alias = f"{prefix}-events"
    es_client.indices.refresh(index=alias)
    assert es_client.count(index=alias)["count"] == 10_000
    assert len(es_client.indices.get_alias(name=alias)) >= 3  # 2.3 days of events: daily indices

    # a restarted daemon (fresh state) relists and replays the same batch
    again = Stats()
    sink2 = make_sink(es_client, prefix, tmp_path / "spool", again)
    for r in batch:
        sink2.put(r)
    wait_for(lambda: settled(again) == 10_000, timeout=120, what="replay acknowledged")
    sink2.stop(10)
    assert again.total("docs_duplicate", index_kind="events") == 10_000 and again.total("docs_indexed") == 0
    es_client.indices.refresh(index=alias)
    assert es_client.count(index=alias)["count"] == 10_000


def test_mapping_rejection_is_counted_logged_and_not_retried(es_client, es_prefix, tmp_path, caplog):
    prefix, stats = prefix_of(es_prefix), Stats()
    sink = make_sink(es_client, prefix, tmp_path / "spool", stats)
    good = events(1)[0]
    bad = Doc("events", f"{prefix}-events-2026.11.20", "bad:1", {"@timestamp": "2026-11-20T00:00:00Z", "count": "many"})
    with caplog.at_level(logging.ERROR, logger="kea.es"):
        sink.put_docs([bad])
        sink.put(good)
        wait_for(lambda: settled(stats) == 2, timeout=30, what="both documents settled")
        sink.stop(5)
    assert stats.total("docs_rejected", reason="document_parsing_exception", index_kind="events") == 1
    assert stats.total("docs_indexed") == 1 and stats.total("bulk_errors") == 0
    assert "bad:1" in caplog.text and "document_parsing_exception" in caplog.text and "count" in caplog.text
    assert sink.status()["spooled_bytes"] == 0


def test_terminations_and_endpoint_changes_in_their_own_indices(es_client, es_prefix, tmp_path):
    prefix, stats = prefix_of(es_prefix), Stats()
    sink = make_sink(es_client, prefix, tmp_path / "spool", stats)
    sink.put(rec(pod(restarts=1, last=oom(100))))
    sink.put(rec(pod(restarts=1, last=oom(100))))  # the same termination again: no second doc
    sink.put(rec(endpoint_slice([True, True], change=10)))
    sink.put(rec(endpoint_slice([True, False], change=20)))
    sink.put(rec(endpoint_slice([True, False], change=30, pods=["x", "y"])))  # same counts: nothing
    wait_for(lambda: settled(stats) == 3, timeout=30, what="3 documents")
    sink.stop(5)
    for kind in ("terminations", "endpoints"):
        es_client.indices.refresh(index=f"{prefix}-{kind}")
    oom_hits = es_client.search(index=f"{prefix}-terminations", query={"term": {"oom": True}})["hits"]
    assert oom_hits["total"]["value"] == 1
    assert oom_hits["hits"][0]["_source"]["memory_limit_bytes"] == 512 * 2**20
    changes = es_client.search(index=f"{prefix}-endpoints", sort=[{"@timestamp": "asc"}])["hits"]["hits"]
    assert [h["_source"]["change"] for h in changes] == ["initial", "degraded"]
    assert changes[1]["_source"]["transition"]["from"]["ready"] == 2
    assert es_client.count(index=f"{prefix}-endpoints", query={"term": {"addresses.node": "node-1"}})["count"] == 2


def test_stop_flushes_what_is_queued(es_client, es_prefix, tmp_path):
    prefix, stats = prefix_of(es_prefix), Stats()
    sink = make_sink(es_client, prefix, tmp_path / "spool", stats, flush_interval=30)
    for r in events(700):  # one full chunk and a partial one that would wait 30 s
        sink.put(r)
    sink.stop(20)
    assert stats.total("docs_indexed") == 700
    assert sink.status() == {**sink.status(), "queued": 0, "spooled_bytes": 0, "reachable": True}


def test_status_and_es_up_while_running(es_client, es_prefix, tmp_path):
    prefix, stats = prefix_of(es_prefix), Stats()
    sink = make_sink(es_client, prefix, tmp_path / "spool", stats)
    st = sink.status()
    assert st["reachable"] is True and st["queued"] == 0 and st["spooled_bytes"] == 0
    sink.stop(1)


def test_flush_waits_for_the_spool_to_drain(es_client, es_prefix, tmp_path):
    prefix, stats = prefix_of(es_prefix), Stats()
    sink = EsSink(es_client, prefix=prefix, spool_dir=tmp_path / "spool", spool_max_bytes=10**8, flush_interval=0.1,
                  clock=fixed_clock, stats=stats, max_queued=1000)
    for r in events(3000):  # more than max_queued before start: most of it is on disk
        sink.put(r)
    assert sink.status()["spooled_bytes"] > 0
    assert sink.flush(0.2) is False  # not started yet: nothing drains
    sink.install_templates()
    sink.start()
    sink.start()  # idempotent
    assert sink.flush(60) is True
    assert stats.total("docs_indexed") == 3000
    sink.stop(5)
