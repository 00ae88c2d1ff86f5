import pytest
from prometheus_client import generate_latest

from watcher.es.stats import SinkStats
from watcher.kube.stats import LeaseStats, WatchStats
from watcher.metrics import Metrics


def scrape(m: Metrics) -> str:
    return generate_latest(m.registry).decode()


def test_watch_stats_move_the_watch_series():
    m = Metrics()
    w = m.watch_stats
    w.event("pods", "MODIFIED")
    w.event("pods", "MODIFIED")
    w.reconnect("events", "timeout")
    w.relist("endpointslices", "expired")
    w.skipped("bad_field")
    w.last_event("pods", 1700000000.5)
    text = scrape(m)
    assert 'kea_watch_events_total{resource="pods",type="MODIFIED"} 2.0' in text
    assert 'kea_watch_reconnects_total{reason="timeout",resource="events"} 1.0' in text
    assert 'kea_watch_relists_total{reason="expired",resource="endpointslices"} 1.0' in text
    assert 'kea_records_skipped_total{reason="bad_field"} 1.0' in text
    assert 'kea_watch_last_event_timestamp_seconds{resource="pods"} 1.7000000005e+09' in text


def test_lease_stats_move_the_leader_gauge():
    m = Metrics()
    m.lease_stats.leader(True)
    assert "kea_leader 1.0" in scrape(m)
    m.lease_stats.leader(False)
    assert "kea_leader 0.0" in scrape(m)


def test_sink_stats_move_the_elasticsearch_series():
    m = Metrics()
    s = m.sink_stats
    s.indexed("events", 3)
    s.duplicate("alerts", 2)
    s.rejected("events", "mapper_parsing_exception")
    s.invalid("Pod")
    s.skipped("terminations", "older_than_retention")
    s.spooled(4)
    s.bulk_error("503")
    s.bulk_seconds(0.2)
    s.spool_bytes(1234)
    s.spool_dropped("spool_full", 5)
    s.spool_dropped("spool_unwritable", 1)
    s.spool_corrupt()
    s.reachable(False)
    text = scrape(m)
    assert 'kea_es_docs_indexed_total{index_kind="events"} 3.0' in text
    assert 'kea_es_docs_duplicate_total{index_kind="alerts"} 2.0' in text
    assert 'kea_es_docs_rejected_total{index_kind="events",reason="mapper_parsing_exception"} 1.0' in text
    assert 'kea_es_docs_invalid_total{kind="Pod"} 1.0' in text
    assert 'kea_es_docs_skipped_total{index_kind="terminations",reason="older_than_retention"} 1.0' in text
    assert "kea_es_docs_spooled_total 4.0" in text
    assert 'kea_es_bulk_errors_total{reason="503"} 1.0' in text
    assert "kea_es_bulk_seconds_count 1.0" in text and 'kea_es_bulk_seconds_bucket{le="0.25"} 1.0' in text
    assert "kea_es_spool_bytes 1234.0" in text
    assert 'kea_es_spool_dropped_total{reason="spool_full"} 5.0' in text
    assert 'kea_es_spool_dropped_total{reason="spool_unwritable"} 1.0' in text
    assert "kea_es_spool_corrupt_total 1.0" in text
    assert "kea_es_up 0.0" in text
    s.reachable(True)
    assert "kea_es_up 1.0" in scrape(m)


@pytest.mark.parametrize("protocol, attribute", [(WatchStats, "watch_stats"), (LeaseStats, "lease_stats"),
                                                 (SinkStats, "sink_stats")])
def test_metrics_implement_every_report_of_each_protocol(protocol, attribute):
    """A report added to a package's protocol but not to Metrics fails here (and in mypy)."""
    reports = {name for name in vars(protocol) if not name.startswith("_")}
    assert reports, protocol
    implementation = getattr(Metrics(), attribute)
    assert {name for name in reports if callable(getattr(implementation, name, None))} == reports


def test_the_exported_series_carry_build_info_and_no_created_series():
    text = scrape(Metrics("1.2.3"))
    assert 'kea_build_info{version="1.2.3"} 1.0' in text
    assert "_created" not in text


def test_rule_matches_and_watch_age_are_read_at_scrape_time():
    m = Metrics()
    counts = {"oom-killed": 3}
    m.rule_matches_from(lambda: counts)
    m.watch_age("pods", lambda: None)
    counts["oom-killed"] = 5
    text = scrape(m)
    assert 'kea_rule_matches_total{rule="oom-killed"} 5.0' in text
    assert 'kea_watch_seconds_since_last_event{resource="pods"}' not in text  # nothing seen yet


def test_a_bad_report_never_raises(caplog):
    m = Metrics()
    m.sink_stats.indexed("events", "many")  # type: ignore[arg-type]
    m.sink_stats.spooled(-1)  # a counter cannot go down
    assert caplog.text.count("could not be recorded") == 2
    m.sink_stats.indexed("events", 1)
    assert 'kea_es_docs_indexed_total{index_kind="events"} 1.0' in scrape(m)


def test_the_pipeline_queue_gauge_is_what_is_queued_when_scraped(tmp_path):
    """It was set once a second by the main loop, so a scrape could say 0 with thousands of
    records waiting (and a benchmark's "the queue is empty" came up to a second late)."""
    import threading
    from datetime import datetime, timezone

    from tests.factories import event, rec
    from watcher.assembly import assemble
    from watcher.config import parse_config

    # (no status server: the registry is read directly, and no port is left bound for the next test)
    cfg = parse_config(f"data_dir: {tmp_path / 'data'}\nmetrics: {{enabled: false}}\n", "c.yaml", {})
    metrics = Metrics()
    daemon = assemble(cfg, [], stop=threading.Event(), started=datetime.now(timezone.utc), metrics=metrics,
                      replay_files=["/dev/null"])
    for i in range(3):  # the pipeline is not started: they stay queued
        daemon.pipeline.put(rec(event(f"web.{i}")))
    assert metrics.registry.get_sample_value("kea_pipeline_queue") == 3
    assert metrics.registry.get_sample_value("kea_pipeline_records_total") == 0
    daemon.pipeline.start()
    assert daemon.pipeline.drain(10)
    assert metrics.registry.get_sample_value("kea_pipeline_records_total") == 3
    assert metrics.registry.get_sample_value("kea_pipeline_queue") == 0
