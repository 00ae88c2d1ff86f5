"""The embedded SQLite history on its own: WAL, kill -9, retention, the size cap, a disk that
refuses writes, and a record no document can be built from."""
from __future__ import annotations

import logging
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.es.helpers import Stats, wait_for
from tests.factories import event, rec
from watcher.search.query import Query
from watcher.search.sqlite_store import SqliteHistory
from watcher.search.stores import SqliteSearch

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
EVER = Query(start=datetime(2000, 1, 1, tzinfo=timezone.utc), limit=100_000)


def history(path, **kw) -> SqliteHistory:
    kw = {"prefix": "kea", "retention_days": 0, "max_bytes": 0, "flush_interval": 0.05, "clock": lambda: NOW, **kw}
    return SqliteHistory(path, **kw)


def events_at(days: float, n: int, tag: str) -> list:
    """`n` Events `days` after 2026-11-20T02:00Z (tests.factories' T0), a second apart."""
    return [rec(event(f"{tag}.{i}", last=days * 86400 + i, message=f"{tag} message {i} " + "x" * 200))
            for i in range(n)]


def test_the_file_is_in_wal_mode(tmp_path):
    h = history(tmp_path / "h.sqlite3")
    h.start()
    h.stop()
    conn = sqlite3.connect(tmp_path / "h.sqlite3")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


CHILD = textwrap.dedent("""
    import sys, time
    from datetime import datetime, timezone
    from tests.factories import event, rec
    from watcher.search.sqlite_store import SqliteHistory
    h = SqliteHistory(sys.argv[1], prefix="kea", retention_days=0, max_bytes=0, flush_interval=3600,
                      clock=lambda: datetime(2026, 11, 21, tzinfo=timezone.utc))
    h.start()
    for i in range(500):
        h.put(rec(event(f"kept.{i}", last=i)), None)
    assert h.flush(30)
    for i in range(50):  # queued after the last flush: what a kill -9 may lose
        h.put(rec(event(f"late.{i}", last=1000 + i)), None)
    print("flushed", flush=True)
    time.sleep(600)
""")


def test_kill_9_loses_nothing_that_was_flushed(tmp_path):
    path = tmp_path / "h.sqlite3"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "flushed"
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    docs = SqliteSearch(path).search(EVER)
    kept = {d["_id"] for d in docs if d["_id"].startswith("uid-kept.")}
    assert len(kept) == 500
    # and the file takes writes again after the crash (a restart relists: same ids, no copies)
    h = history(path)
    h.start()
    h.put(rec(event("kept.0", last=0)), None)
    h.put(rec(event("after.0", last=5000)), None)
    assert h.flush(30)
    h.stop()
    ids = [d["_id"] for d in SqliteSearch(path).search(EVER)]
    assert ids.count("uid-kept.0:1") == 1 and "uid-after.0:1" in ids


def test_retention_deletes_the_days_elasticsearch_retention_would(tmp_path):
    stats = Stats()
    h = history(tmp_path / "h.sqlite3", retention_days=3, stats=stats)
    h.start()
    for r in events_at(0, 3, "nov20") + events_at(2, 3, "nov22") + events_at(-5, 2, "nov15"):
        h.put(r, None)
    assert h.flush(30)
    # written on 11-22 with 3 days kept: 11-15 is already older than retention, never written
    assert stats.total("history_dropped", reason="older_than_retention") == 2
    assert h.prune(NOW) == 0
    assert h.prune(NOW + timedelta(days=2)) == 3  # the oldest kept day is now 11-21
    h.stop()
    assert sorted({d["message"].split()[0] for d in SqliteSearch(tmp_path / "h.sqlite3").search(EVER)}) == ["nov22"]


def test_the_size_cap_deletes_the_oldest_counts_and_logs_it(tmp_path, caplog):
    stats, cap, path = Stats(), 1024 * 1024, tmp_path / "h.sqlite3"
    h = history(path, max_bytes=cap, stats=stats)
    h.start()
    with caplog.at_level(logging.WARNING, logger="kea.history"):
        for chunk in range(10):  # about 3.5 MB of documents
            for r in events_at(0, 300, f"c{chunk}"):
                h.put(r, None)
            assert h.flush(30)
            assert h.used_bytes() <= cap
    h.stop()
    assert path.stat().st_size <= 2 * cap
    dropped = stats.total("history_dropped", reason="size_cap")
    stored = stats.total("history_docs", index_kind="events", result="stored")
    docs = SqliteSearch(path).search(EVER)
    assert stored == 3000 and dropped > 1500 and len(docs) == 3000 - dropped
    kept = {d["_id"] for d in docs}
    assert "uid-c9.299:1" in kept and "uid-c0.0:1" not in kept
    assert "over its size cap" in caplog.text


def test_a_disk_that_refuses_writes_keeps_documents_up_to_a_bound(tmp_path, caplog, monkeypatch):
    stats = Stats()
    h = history(tmp_path / "h.sqlite3", max_queued=5, stats=stats)
    real_insert = h._insert

    def full(batch):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(h, "_insert", full)
    h.start()
    with caplog.at_level(logging.ERROR, logger="kea.history"):
        for r in events_at(0, 8, "d"):
            h.put(r, None)
        wait_for(lambda: stats.total("history_write_errors") >= 1, timeout=30, what="a refused write")
    assert stats.total("history_dropped", reason="queue_full") == 3
    assert "database or disk is full" in caplog.text and "oldest unwritten documents" in caplog.text
    monkeypatch.setattr(h, "_insert", real_insert)
    assert h.flush(30)
    h.stop()
    assert sorted(d["_id"] for d in SqliteSearch(tmp_path / "h.sqlite3").search(EVER)) == [
        f"uid-d.{i}:1" for i in range(3, 8)]


def test_a_record_without_documents_is_counted_not_raised(tmp_path, monkeypatch, caplog):
    stats = Stats()
    h = history(tmp_path / "h.sqlite3", stats=stats)

    def broken(record, observation=None):
        raise ValueError("odd record")

    monkeypatch.setattr(h.documenter, "documents", broken)
    h.put(rec(event("x.1")), None)
    assert stats.total("history_dropped", reason="invalid_record") == 1
    assert "cannot build documents for Event shop/x.1" in caplog.text
    h.stop()


def test_a_missing_or_foreign_file_is_a_clear_error(tmp_path):
    from watcher.search.stores import StoreError

    with pytest.raises(StoreError, match="no local history at"):
        SqliteSearch(tmp_path / "nope.sqlite3")
    (tmp_path / "junk.sqlite3").write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreError, match="cannot read the local history"):
        SqliteSearch(tmp_path / "junk.sqlite3")


def test_a_writer_stuck_at_shutdown_says_what_it_did_not_write(tmp_path, monkeypatch, caplog):
    stats, release = Stats(), threading.Event()
    h = history(tmp_path / "h.sqlite3", stats=stats)
    real_insert = h._insert

    def hanging(batch):
        release.wait(30)
        return real_insert(batch)

    monkeypatch.setattr(h, "_insert", hanging)
    h.start()
    h.put(rec(event("first.1")), None)
    wait_for(lambda: not h._queue, timeout=30, what="the writer to take the first batch")
    h.put(rec(event("second.1")), None)
    with caplog.at_level(logging.ERROR, logger="kea.history"):
        h.stop(timeout=0.2)
    release.set()
    assert stats.total("history_dropped", reason="shutdown") == 1
    assert "1 queued documents are not written" in caplog.text
