"""The Elasticsearch sink: records in (non-blocking), documents out in bulk, nothing lost.

    put(record) → Documenter → memory queue ──► writer thread ──► BulkSender ──► Elasticsearch
                                    │ (over max_queued)   │ (ES down, or the spool not empty)
                                    └──────► Spool ◄──────┘  replayed oldest-first on recovery

One writer thread owns sending. While the spool holds anything, new documents are appended
behind it and the writer sends from the spool's head, so documents reach Elasticsearch in the
order they were spooled. A document leaves memory only into Elasticsearch or onto disk (fsynced),
and leaves the disk only after Elasticsearch acknowledged it. What a kill -9 can lose is the
memory queue: while ES is up, what is being sent; while it is down, what arrived since the last
spool write (one `flush_interval` plus one probe backoff, at most `max_backoff` seconds). After
the restart the watchers relist and the deterministic ids re-create what is still in the API.

When Elasticsearch is down the writer probes with one bulk request from the spool's head,
backing off up to `max_backoff` seconds; the first answer resumes normal work. Templates are
(re)installed before the first write and after every outage, because daily indices are created
by writes and must never be created without their mapping.

Everything the sink and its parts measure goes through one `watcher.es.stats.SinkStats`.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from notifiers.clock import utcnow
from rules.model import Record
from rules.state import Observation
from watcher.es.bulk import BulkSender, describe_error
from watcher.es.doc import Doc
from watcher.es.documents import Documenter
from watcher.es.spool import Spool
from watcher.es.stats import NO_SINK_STATS, SinkStats
from watcher.es.templates import install_templates

log = logging.getLogger("kea.es")

#: Drops from memory can come once per record; one log line per this many seconds says how many.
_DROP_LOG_SECONDS = 10.0




class EsSink:
    def __init__(self, client: Any, *, prefix: str, spool_dir: str | Path, spool_max_bytes: int,
                 chunk_size: int = 500, max_chunk_bytes: int = 5 * 1024 * 1024, flush_interval: float = 2.0,
                 clock: Callable[[], datetime] = utcnow, stats: SinkStats = NO_SINK_STATS,
                 max_queued: Optional[int] = None, attempts: int = 4, max_backoff: float = 5.0,
                 retention_days: int = 0, max_memory: Optional[int] = None) -> None:
        """`max_queued`: documents held in memory before `put` moves them to the spool (default
        20 chunks). `max_memory`: documents kept in memory while the spool cannot be written
        (disk full, read-only), default four times `max_queued`; beyond it the oldest are
        dropped, counted (`spool_dropped{reason="spool_unwritable"}`) and logged.
        `attempts`: bulk tries while ES is up before the documents are spooled.
        `retention_days`: documents dated before what retention keeps are not written."""
        # No transport-level retries: the sink's own policy decides when to retry and when to
        # spool, and a probe while ES is down must fail fast (one request, not four).
        self.client = client.options(max_retries=0)
        self.prefix = prefix
        self.chunk_size = max(1, chunk_size)
        self.max_chunk_bytes = max_chunk_bytes
        self.flush_interval = flush_interval
        self.clock = clock
        self.attempts = attempts
        self.max_backoff = max_backoff
        self.max_queued = max_queued or max(1000, 20 * self.chunk_size)
        self.max_memory = max(self.max_queued, max_memory or 4 * self.max_queued)
        self._memory_dropped = 0
        self._memory_drop_logged = -float("inf")
        self.stats = stats
        self.documenter = Documenter(prefix=prefix, clock=clock, retention_days=retention_days, stats=stats)
        self.spool = Spool(spool_dir, max_bytes=spool_max_bytes, stats=stats)
        self.sender = BulkSender(self.client, chunk_size=self.chunk_size, max_chunk_bytes=max_chunk_bytes,
                                 stats=stats, sleep=self._nap, max_backoff=max_backoff)
        self._queue: deque[Doc] = deque()
        self._cond = threading.Condition()
        self._inflight: list[Doc] = []
        self._stopping = threading.Event()
        self._deadline = float("inf")
        self._up = True  # optimistic until the first failure: the first send tells
        self._templates_ok = False
        self._thread = threading.Thread(target=self._run, name="es-sink", daemon=True)

    # -- the lead's interface ----------------------------------------------------------------

    def install_templates(self) -> bool:
        """Install the index templates (idempotent). False if ES could not be reached: the writer
        retries before its first write, so start-up need not wait for Elasticsearch."""
        err = self._install()
        if err:
            log.warning("elasticsearch templates not installed yet (%s); will retry before writing", err)
        return not err

    def start(self) -> None:
        """Start the writer thread; calling it again is a no-op (start-up may start the sink
        early to `flush` the spool before restoring state)."""
        if self._thread.is_alive() or self._thread.ident is not None:
            return
        self.stats.reachable(self._up)  # later values on every change
        self._thread.start()

    def put(self, record: Record, observation: Optional[Observation] = None) -> None:
        """Never blocks on Elasticsearch and never drops: documents go to memory, or to the
        spool when memory holds `max_queued` already. `observation`: what the record changed in
        the rules' cluster state, so the documents say what the alerts say."""
        try:
            docs = self.documenter.documents(record, observation)
        except Exception:  # one odd record must not stop the watchers feeding us
            log.exception("cannot build documents for %s %s/%s", record.kind, record.namespace, record.name)
            self.stats.invalid(record.kind)
            return
        self.put_docs(docs)

    def put_docs(self, docs: Sequence[Doc]) -> None:
        """Queue ready-made documents (alert history uses this when a direct write fails)."""
        if not docs:
            return
        overflow: list[Doc] = []
        with self._cond:
            self._queue.extend(docs)
            if len(self._queue) > self.max_queued:
                if self._spool_ok:
                    overflow = list(self._queue)
                    self._queue.clear()
                else:  # the disk refused last time: the writer retries it, with backoff
                    self._trim_memory()
            self._cond.notify()
        if overflow:
            self._to_spool(overflow, why="memory queue full")

    def put_durable(self, docs: Sequence[Doc]) -> None:
        """Queue documents that must survive a kill -9 once this returns — a delivery's history,
        whose outbox entry is forgotten right after: they are appended to the spool (fsynced),
        which the writer replays oldest-first. If the disk refuses, they join the memory queue."""
        if not docs:
            return
        try:
            self.spool.append(list(docs))
        except OSError:
            self.put_docs(docs)
            return
        with self._cond:
            self._cond.notify()

    def stop(self, deadline_seconds: float = 10.0) -> None:
        """Flush within the deadline; whatever is still unsent then goes to the spool."""
        self._deadline = time.monotonic() + max(0.0, deadline_seconds)
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread.is_alive():
            # a request in flight ends within the client's request_timeout at worst
            self._thread.join(max(0.0, deadline_seconds) + 30.0)
        if self._thread.is_alive():
            log.error("elasticsearch writer did not stop in time; spooling what it held")
            self._to_spool(list(self._inflight), why="stop deadline")
        with self._cond:
            rest, self._queue = list(self._queue), deque()
        if rest:
            self._to_spool(rest, why="shutdown")
        self.spool.close()

    def flush(self, timeout: float) -> bool:
        """Wait until everything queued or spooled so far is acknowledged; False on timeout.
        For start-up: drain alert-history documents left in the spool before reading the
        history back, or a restart right after an outage could restore too little."""
        deadline = time.monotonic() + timeout
        while True:
            st = self.status()
            if st["queued"] == 0 and st["spooled_bytes"] == 0:
                return True
            if time.monotonic() >= deadline or not self._thread.is_alive():
                return False
            time.sleep(0.02)

    def status(self) -> dict[str, Any]:
        """For /readyz: ready when `reachable` or spooling works (`spool_ok`)."""
        with self._cond:
            queued = len(self._queue) + len(self._inflight)
        return {"reachable": self._up, "spooled_bytes": self.spool.unread_bytes, "queued": queued,
                "spool_dropped": self.spool.dropped + self._memory_dropped, "spool_corrupt": self.spool.corrupt,
                "spool_ok": self._spool_ok}

    # -- the writer thread ------------------------------------------------------------------

    _spool_ok = True

    def _run(self) -> None:
        backoff = 0.0
        while True:
            spooling = not self._up or not self.spool.empty()
            # while spooling, everything in memory goes to disk at once (memory is what a kill -9
            # loses); while the spool drains with ES up, don't wait for a chunk to fill
            batch = self._take(wait=not (spooling and self._up), limit=None if spooling else self.chunk_size)
            with self._cond:
                self._inflight = batch
            held = bool(batch)  # the batch is only in memory
            try:
                if not self._up or not self.spool.empty():
                    # keep order: new documents go behind the spooled ones
                    if batch:
                        self._to_spool(batch, why="")
                        held = False
                    progressed = self._drain_spool()
                else:
                    progressed = self._send_direct(batch) if batch else True
                    held = False
            except Exception:  # a bug must not kill the writer: documents stay where they are
                log.exception("elasticsearch writer error")
                if held:
                    self._to_spool(batch, why="writer error")
                progressed = False
            with self._cond:
                self._inflight = []
            if self._stopping.is_set():
                with self._cond:
                    idle = not self._queue
                if (idle and self.spool.empty()) or time.monotonic() >= self._deadline:
                    return
                if not progressed and not self._up:
                    return  # ES is down: the rest stays in the spool for the next start
            if progressed:
                backoff = 0.0
            else:
                backoff = min(self.max_backoff, max(0.25, backoff * 2))
                self._nap(backoff)

    def _take(self, *, wait: bool, limit: Optional[int]) -> list[Doc]:
        """Up to `limit` documents (all if None). With `wait`, gives a partial chunk up to
        `flush_interval` to fill (a slow trickle still leaves within that time)."""
        with self._cond:
            end = time.monotonic() + self.flush_interval
            while wait and len(self._queue) < self.chunk_size and not self._stopping.is_set():
                left = end - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            if limit is None or limit >= len(self._queue):
                batch, self._queue = list(self._queue), deque()
                return batch
            return [self._queue.popleft() for _ in range(limit)]

    def _send_direct(self, batch: list[Doc]) -> bool:
        if not self._ensure_templates():
            self._to_spool(batch, why="elasticsearch unreachable")
            return False
        result = self.sender.send(batch, attempts=self.attempts, give_up=self._past_deadline)
        if result.remaining:
            self._set_up(False, result.error)
            self._to_spool(result.remaining, why="elasticsearch unreachable")
            return False
        self._set_up(True)
        return True

    def _drain_spool(self) -> bool:
        """Send from the spool's head; True if something was acknowledged."""
        if not self._ensure_templates():
            return False
        docs, pos = self.spool.read(max_docs=self.chunk_size, max_bytes=self.max_chunk_bytes)
        if not docs:
            self.spool.commit(pos)  # nothing, or only damaged lines: skip past them
            return True
        # while down, one try per probe; once up, the full retry policy
        result = self.sender.send(docs, attempts=self.attempts if self._up else 1, give_up=self._past_deadline)
        if result.remaining:
            self._set_up(False, result.error)
            return False
        self.spool.commit(pos)
        self._set_up(True)
        return True

    def _ensure_templates(self) -> bool:
        """Templates before any write; the attempt doubles as the probe while ES is down."""
        if self._templates_ok:
            return True
        err = self._install()
        if err:
            self._set_up(False, f"installing templates: {err}")
            return False
        self._set_up(True)  # it answered
        return True

    def _install(self) -> str:
        try:
            install_templates(self.client, self.prefix)
        except Exception as exc:  # connection or API error: the caller retries
            return describe_error(exc)
        self._templates_ok = True
        return ""

    def _set_up(self, up: bool, why: str = "") -> None:
        if up == self._up:
            return
        self._up = up
        self.stats.reachable(up)
        if up:
            log.info("elasticsearch reachable again; replaying %d spooled bytes", self.spool.unread_bytes)
        else:
            # after an outage the cluster may come back empty (new volume): reinstall first
            self._templates_ok = False
            log.warning("elasticsearch unreachable (%s); spooling to %s", why, self.spool.dir)

    def _to_spool(self, docs: list[Doc], *, why: str) -> None:
        if not docs:
            return
        try:
            self.spool.append(docs)
        except OSError as exc:
            # the disk refuses: keep them in memory, up to max_memory (then the oldest go, as
            # the spool drops its oldest segment); /readyz turns unready via spool_ok
            if self._spool_ok:
                log.error("spool write failed (%s); keeping up to %d documents in memory", exc, self.max_memory)
            self._spool_ok = False
            with self._cond:
                self._queue.extendleft(reversed(docs))
                self._trim_memory(exc)
            return
        if not self._spool_ok:
            log.info("spool writable again")
        self._spool_ok = True
        self.stats.spooled(len(docs))
        if why:
            log.info("spooled %d documents (%s)", len(docs), why)

    def _trim_memory(self, why: object = "spool not writable") -> None:
        """Drop the oldest queued documents beyond `max_memory` (caller holds `_cond`). Counted
        per drop; logged at most every `_DROP_LOG_SECONDS` with the total so far."""
        excess = len(self._queue) - self.max_memory
        if excess <= 0:
            return
        for _ in range(excess):
            self._queue.popleft()
        self._memory_dropped += excess
        self.stats.spool_dropped("spool_unwritable", excess)
        now = time.monotonic()
        if now - self._memory_drop_logged >= _DROP_LOG_SECONDS:
            self._memory_drop_logged = now
            log.warning("spool not writable (%s) and %d documents in memory: dropped the oldest "
                        "(%d dropped so far)", why, self.max_memory, self._memory_dropped)

    def _past_deadline(self) -> bool:
        return self._stopping.is_set() and time.monotonic() >= self._deadline

    def _nap(self, seconds: float) -> None:
        """Backoff sleep; once stopping, it never sleeps past the stop deadline."""
        if self._stopping.is_set():
            time.sleep(max(0.0, min(seconds, self._deadline - time.monotonic())))
        else:
            self._stopping.wait(seconds)
