"""The assembly's wiring of the local history: the record handler when Elasticsearch is off,
pruned by the retention job, off when switched off, and never a reason not to start."""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta, timezone

from tests.factories import T0, event, rec
from watcher.assembly import assemble
from watcher.config import parse_config
from watcher.metrics import Metrics
from watcher.persistence import Persistence
from watcher.search.query import Query
from watcher.search.stores import SqliteSearch


def seconds_after_t0(when: datetime) -> float:
    return (when - T0).total_seconds()


def persistence(tmp_path, extra: str = "", metrics: Metrics | None = None) -> Persistence:
    cfg = parse_config(f"data_dir: {tmp_path / 'data'}\n{extra}", "c.yaml", {})
    m = metrics or Metrics()
    return Persistence(cfg, stats=m.sink_stats, history_stats=m.history_stats)


def test_without_elasticsearch_the_local_history_is_a_handler_with_a_retention_job(tmp_path):
    # (no status server: assembling binds its port, and the default one may be taken by anything)
    cfg = parse_config(f"data_dir: {tmp_path / 'data'}\nmetrics: {{enabled: false}}\nlocal_history: {{retention_days: 2}}\n",
                       "c.yaml", {})
    metrics = Metrics()
    daemon = assemble(cfg, [], stop=threading.Event(), started=datetime.now(timezone.utc), metrics=metrics,
                      replay_files=["/dev/null"])
    (persist,) = [s for s in daemon.services if s.name == "persistence"]
    (scheduler,) = [s for s in daemon.services if s.name == "scheduler"]
    history = persist.local_history  # type: ignore[attr-defined]
    handlers = persist.record_handlers()  # type: ignore[attr-defined]
    assert history is not None and handlers == [history.put]
    persist.start()
    try:
        now = datetime.now(timezone.utc)
        for handler in handlers:  # ten days old: never written (counted); one day old: kept
            handler(rec(event("old.1", last=seconds_after_t0(now - timedelta(days=10)))), None)
            handler(rec(event("new.1", last=seconds_after_t0(now - timedelta(days=1)))), None)
        assert history.flush(30)
        assert metrics.history_dropped.labels("older_than_retention")._value.get() == 1
        assert "retention" in scheduler.jobs()  # type: ignore[attr-defined]
        assert history.prune(now) == 0
        assert history.prune(now + timedelta(days=3)) == 1
    finally:
        persist.stop(time.monotonic() + 5)


def test_the_history_holds_what_the_pipeline_hands_it(tmp_path):
    metrics = Metrics()
    parts = persistence(tmp_path, "local_history: {retention_days: 0}\n", metrics)
    parts.start()
    for handler in parts.record_handlers():
        handler(rec(event("web.1", last=0)), None)
    parts.stop(time.monotonic() + 5)
    docs = SqliteSearch(tmp_path / "data" / "history.sqlite3").search(Query(limit=10))
    assert [d["_id"] for d in docs] == ["uid-web.1:1"]
    assert metrics.history_docs.labels("events", "stored")._value.get() == 1


def test_switched_off_or_unopenable_it_is_not_wired(tmp_path, caplog):
    off = persistence(tmp_path, "local_history: {enabled: false}\n")
    assert off.local_history is None and off.record_handlers() == []
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "history.sqlite3").write_bytes(b"garbage, not SQLite" * 512)
    with caplog.at_level(logging.ERROR, logger="kea.persistence"):
        broken = persistence(tmp_path)
    assert broken.local_history is None and broken.record_handlers() == []
    assert "running without it" in caplog.text
