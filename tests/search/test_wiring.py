"""The daemon's wiring of the local history: a second record handler when Elasticsearch is off,
pruned by the retention job, off when switched off, and never a reason not to start."""
from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta, timezone

from tests.factories import T0, event, rec
from watcher.config import parse_config
from watcher.health import Health
from watcher.metrics import Metrics
from watcher.search.query import Query
from watcher.search.stores import SqliteSearch
from watcher.wiring import Components


def seconds_after_t0(when: datetime) -> float:
    return (when - T0).total_seconds()


def components(tmp_path, extra: str = "") -> Components:
    cfg = parse_config(f"data_dir: {tmp_path / 'data'}\n{extra}", "c.yaml", {})
    return Components(cfg, metrics=Metrics(), health=Health(), stop=threading.Event())


def test_without_elasticsearch_the_local_history_is_a_handler_with_a_retention_job(tmp_path):
    parts = components(tmp_path, "local_history: {retention_days: 2}\n")
    handlers = parts.record_handlers()
    assert len(handlers) == 2 and parts.local_history is not None
    parts.start_delivery()
    parts.start_scheduler(router=lambda alert: None)
    try:
        now = datetime.now(timezone.utc)
        for handler in handlers:  # ten days old: never written (counted); one day old: kept
            handler(rec(event("old.1", last=seconds_after_t0(now - timedelta(days=10)))), None)
            handler(rec(event("new.1", last=seconds_after_t0(now - timedelta(days=1)))), None)
        assert parts.local_history.flush(30)
        assert parts.metrics.history_dropped.labels("older_than_retention")._value.get() == 1
        assert "retention" in {job.id for job in parts.scheduler.get_jobs()}
        assert parts.local_history.prune(now) == 0
        assert parts.local_history.prune(now + timedelta(days=3)) == 1
    finally:
        parts.stop_delivery(5)


def test_the_history_holds_what_the_pipeline_hands_it(tmp_path):
    parts = components(tmp_path, "local_history: {retention_days: 0}\n")
    parts.start_delivery()
    for handler in parts.record_handlers():
        handler(rec(event("web.1", last=0)), None)
    parts.stop_delivery(5)
    docs = SqliteSearch(tmp_path / "data" / "history.sqlite3").search(Query(limit=10))
    assert [d["_id"] for d in docs] == ["uid-web.1:1"]
    assert parts.metrics.history_docs.labels("events", "stored")._value.get() == 1


def test_switched_off_or_unopenable_it_is_not_wired(tmp_path, caplog):
    off = components(tmp_path, "local_history: {enabled: false}\n")
    assert off.local_history is None and len(off.record_handlers()) == 1
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "history.sqlite3").write_bytes(b"garbage, not SQLite" * 512)
    with caplog.at_level(logging.ERROR, logger="kea.wiring"):
        broken = components(tmp_path)
    assert broken.local_history is None and len(broken.record_handlers()) == 1
    assert "running without it" in caplog.text
