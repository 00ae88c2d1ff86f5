"""The embedded history: the Elasticsearch documents, kept in SQLite when there is no Elasticsearch.

A laptop cluster has no Elasticsearch, and `kube-event-alerter events` should still find what
happened last week. This store is a second record handler beside (instead of) the ES sink: the
same `Documenter` builds the same documents with the same ids from the record and the rules'
observation, and they go to one table keyed by (kind, id), so a relist, a replay or a restart
writes nothing twice (INSERT OR IGNORE, as ES answers 409 to `create`).

    put(record, obs) → Documenter → memory queue ──► writer thread ──► SQLite (WAL)

One writer thread owns the connection: it commits what is queued every `flush_interval`
(WAL, synchronous=NORMAL: a committed batch survives kill -9), so a kill -9 loses at most the
last interval; after the restart the watchers relist and the deterministic ids re-create what
is still in the API. Retention (`prune`, called by the scheduler's retention job) deletes what
Elasticsearch's retention would: documents of the daily indices `expired_indices` names,
judged by the index name each document would have had. The size cap is enforced after every
batch by deleting the oldest documents; like every drop, it is counted and logged:
    history_docs      counter {index_kind, result}  stored / duplicate
    history_dropped   counter {reason}              size_cap, queue_full, invalid_record,
                                                    older_than_retention, shutdown
    history_write_errors counter {}                 batches the disk refused (kept, retried)
    history_bytes     gauge   {}                    bytes the documents occupy
"""
from __future__ import annotations

import itertools
import logging
import sqlite3
import threading
import time
from collections import deque
from concurrent.futures import Future
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import orjson

from notifiers.clock import utcnow
from rules.model import Record
from rules.state import Observation
from watcher.es.doc import Doc
from watcher.es.stats import NoSinkStats
from watcher.search.stats import NO_HISTORY_STATS, HistoryStats
from watcher.es.documents import Documenter
from watcher.es.retention import expired_indices
from watcher.search.query import KEYWORD_LIMIT, TEXT_FIELDS, TIEBREAK

log = logging.getLogger("kea.history")

FILE_NAME = "history.sqlite3"
#: Deleting down to this share of the cap leaves room, so the cap is not hit on every batch.
_CAP_LOW_WATER = 0.9
_PRUNE_BATCH = 2000
#: Documents queued that wake the writer before its interval ends.
_BATCH = 1000
#: While documents are dropped (one per record, possibly), one log line per this many seconds.
_DROP_LOG_SECONDS = 10.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL, id TEXT NOT NULL, idx TEXT NOT NULL, ts REAL NOT NULL,
    tiebreak TEXT, group_key TEXT, count INTEGER, text TEXT NOT NULL, source TEXT NOT NULL,
    UNIQUE (kind, id)
);
CREATE INDEX IF NOT EXISTS docs_by_time ON docs (kind, ts);
CREATE INDEX IF NOT EXISTS docs_by_index ON docs (idx);
"""




_INSERT = ("INSERT OR IGNORE INTO docs (kind, id, idx, ts, tiebreak, group_key, count, text, source) "
           "VALUES (?,?,?,?,?,?,?,?,?)")


def connect(path: str | Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=30.0, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(SCHEMA)
    return conn


def row_of(doc: Doc) -> tuple:
    """A document as its table row: the columns the searches filter, sort and collapse on."""
    src = doc.source
    when = datetime.fromisoformat(src["@timestamp"])
    values = ((f, str(src.get(f) or "")) for f in TEXT_FIELDS.get(doc.kind, ()))
    text = "\n".join(v for f, v in values if f != "message" or len(v) <= KEYWORD_LIMIT).lower()
    group = src.get("event_uid") if doc.kind == "events" else None
    count = src.get("count") if doc.kind == "events" else None
    return (doc.kind, doc.id, doc.index, when.timestamp(), src.get(TIEBREAK.get(doc.kind, "")), group, count,
            text, orjson.dumps(src).decode())


class SqliteHistory:
    def __init__(self, path: str | Path, *, prefix: str, retention_days: int, max_bytes: int,
                 flush_interval: float = 2.0, clock: Callable[[], datetime] = utcnow,
                 stats: HistoryStats = NO_HISTORY_STATS, max_queued: int = 100_000) -> None:
        self.path = Path(path)
        self.prefix = prefix
        self.retention_days = retention_days
        self.max_bytes = max_bytes
        self.flush_interval = flush_interval
        self.max_queued = max_queued
        self.stats = stats
        self.documenter = Documenter(prefix=prefix, clock=clock, retention_days=retention_days,
                                     stats=_RetentionSkips(stats))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = connect(self.path)
        self._queue: deque[Doc] = deque()
        self._requests: deque[tuple[Callable[[], Any], Future]] = deque()
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._unlogged_drops, self._drop_logged = 0, -float("inf")
        self._error_logged = -float("inf")
        self._thread = threading.Thread(target=self._run, name="sqlite-history", daemon=True)

    # -- the pipeline's side -----------------------------------------------------------------

    def put(self, record: Record, observation: Optional[Observation] = None) -> None:
        """The record handler (see `EsSink.put`): never blocks on the disk."""
        try:
            docs = self.documenter.documents(record, observation)
        except Exception:  # one odd record must not stop the watchers feeding us
            log.exception("cannot build documents for %s %s/%s", record.kind, record.namespace, record.name)
            self.stats.dropped("invalid_record", 1)
            return
        self.put_docs(docs)

    def put_docs(self, docs: Sequence[Doc]) -> None:
        if not docs:
            return
        with self._cond:
            self._queue.extend(docs)
            if len(self._queue) >= _BATCH:  # else the writer commits at its next interval
                self._cond.notify()
        self._trim()

    def _trim(self) -> None:
        """While the disk refuses writes the queue grows: beyond `max_queued`, the oldest go."""
        with self._cond:
            dropped = max(0, len(self._queue) - self.max_queued)
            for _ in range(dropped):
                self._queue.popleft()
            self._unlogged_drops += dropped
            due = self._unlogged_drops and time.monotonic() - self._drop_logged >= _DROP_LOG_SECONDS
            if due:
                logged, self._unlogged_drops, self._drop_logged = self._unlogged_drops, 0, time.monotonic()
        if dropped:
            self.stats.dropped("queue_full", dropped)
        if due:  # once per record while the disk is stuck would drown the log: one line says how many
            log.error("local history: dropped %d oldest unwritten documents (queue over %d; is the disk full?)",
                      logged, self.max_queued)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread.ident is None:
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued, then close."""
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread.ident is not None:
            self._thread.join(timeout)
        else:
            self._write_queued()
        if self._thread.is_alive():  # the disk hangs: say what is lost rather than wait forever
            with self._cond:
                lost = len(self._queue)
            log.error("local history: writer did not stop within %.0fs; %d queued documents are not written",
                      timeout, lost)
            self.stats.dropped("shutdown", lost)
        else:
            self._conn.close()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far is committed."""
        return bool(self._ask(lambda: True, timeout))

    def prune(self, now: datetime, timeout: float = 300.0) -> int:
        """The retention job: delete the documents Elasticsearch's retention would delete (by
        the daily index they belong to); returns how many. Runs on the writer thread."""
        return int(self._ask(lambda: self._prune_retention(now), timeout) or 0)

    def _ask(self, fn: Callable[[], Any], timeout: float) -> Any:
        if self._thread.ident is None or not self._thread.is_alive():
            self._write_queued()
            return fn()
        future: Future = Future()
        with self._cond:
            self._requests.append((fn, future))
            self._cond.notify()
        return future.result(timeout)

    # -- the writer thread -------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._stopping.is_set() and not self._requests:
                    self._cond.wait(self.flush_interval)
                stopping = self._stopping.is_set()
            backlog = self._write_queued()
            self._serve_requests()
            if stopping and not self._queue:
                return
            if backlog:  # the write failed: wait before trying the disk again
                self._stopping.wait(min(5.0, self.flush_interval))

    def _serve_requests(self) -> None:
        while True:
            with self._cond:
                if not self._requests:
                    return
                fn, future = self._requests.popleft()
            try:
                self._write_queued()
                future.set_result(fn())
            except Exception as exc:
                future.set_exception(exc)

    def _write_queued(self) -> bool:
        """Commit what is queued in one transaction; True if it failed and documents wait."""
        with self._cond:
            batch = list(self._queue)
            self._queue.clear()
        if not batch:
            return False
        try:
            stored = self._insert(batch)
        except sqlite3.Error as exc:
            if time.monotonic() - self._error_logged >= _DROP_LOG_SECONDS:  # retried every interval
                self._error_logged = time.monotonic()
                log.error("local history: cannot write %d documents to %s (%s: %s); retrying",
                          len(batch), self.path, type(exc).__name__, exc)
            with self._cond:
                self._queue.extendleft(reversed(batch))
            self.stats.write_error()
            self._trim()
            return True
        for (kind, result), n in stored.items():
            self.stats.docs(kind, result, n)
        self._enforce_cap()
        return False

    def _insert(self, batch: list[Doc]) -> dict[tuple[str, str], int]:
        counts: dict[tuple[str, str], int] = {}
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            # One executemany per run of one kind (a backlog is one long run): its rowcount
            # says how many of the run were new, and the rows keep their arrival order.
            for kind, run in itertools.groupby(batch, key=lambda doc: doc.kind):
                rows = [row_of(doc) for doc in run]
                stored = conn.executemany(_INSERT, rows).rowcount
                for result, n in (("stored", stored), ("duplicate", len(rows) - stored)):
                    if n:
                        counts[(kind, result)] = counts.get((kind, result), 0) + n
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return counts

    def used_bytes(self) -> int:
        page_size, pages, free = (self._conn.execute(f"PRAGMA {p}").fetchone()[0]
                                  for p in ("page_size", "page_count", "freelist_count"))
        return (pages - free) * page_size

    def _enforce_cap(self) -> None:
        used = self.used_bytes()
        if self.max_bytes > 0 and used > self.max_bytes:
            dropped = 0
            rows = self._conn.execute("SELECT count(*) FROM docs").fetchone()[0]
            step = max(1, min(_PRUNE_BATCH, rows // 50))
            while used > self.max_bytes * _CAP_LOW_WATER:
                # oldest written first: whole pages of the table (in `seq` order) come free
                cur = self._conn.execute("DELETE FROM docs WHERE seq IN (SELECT seq FROM docs ORDER BY seq LIMIT ?)",
                                         (step,))
                if cur.rowcount <= 0:
                    break
                dropped += cur.rowcount
                used = self.used_bytes()
            log.warning("local history: over its size cap (%d bytes): deleted the %d oldest documents",
                        self.max_bytes, dropped)
            self.stats.dropped("size_cap", dropped)
        self.stats.used_bytes(used)

    def _prune_retention(self, now: datetime) -> int:
        names = [row[0] for row in self._conn.execute("SELECT DISTINCT idx FROM docs")]
        doomed = expired_indices(names, self.prefix, self.retention_days, now)
        deleted = 0
        for name in doomed:
            deleted += self._conn.execute("DELETE FROM docs WHERE idx = ?", (name,)).rowcount
        if deleted:
            log.info("retention: deleted %d local history documents of %d days older than %d days",
                     deleted, len(doomed), self.retention_days)
        self.stats.used_bytes(self.used_bytes())
        return deleted



class _RetentionSkips(NoSinkStats):
    """The documenter's report of documents dated before what retention keeps: not written."""

    def __init__(self, stats: HistoryStats) -> None:
        self.stats = stats

    def skipped(self, index_kind: str, reason: str) -> None:
        self.stats.dropped(reason, 1)
