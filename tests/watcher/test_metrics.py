from prometheus_client import generate_latest

from watcher.metrics import Metrics


def scrape(m: Metrics) -> str:
    return generate_latest(m.registry).decode()


def test_on_stat_maps_component_reports_to_series():
    m = Metrics("1.2.3")
    m.on_stat("watch_events", 2, {"resource": "pods", "type": "MODIFIED"})
    m.on_stat("records_skipped", 1, {"reason": "bad_field"})
    m.on_stat("bulk_seconds", 0.2, {})
    m.on_stat("es_up", 1, {})
    m.on_stat("not_a_metric", 1, {})
    text = scrape(m)
    assert 'kea_watch_events_total{resource="pods",type="MODIFIED"} 2.0' in text
    assert 'kea_records_skipped_total{reason="bad_field"} 1.0' in text
    assert 'kea_es_bulk_seconds_count 1.0' in text and "kea_es_up 1.0" in text
    assert 'kea_unknown_stats_total{name="not_a_metric"} 1.0' in text
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


def test_a_bad_report_never_raises():
    m = Metrics()
    m.on_stat("watch_events", "many", {"resource": "pods", "type": "ADDED"})  # type: ignore[arg-type]
