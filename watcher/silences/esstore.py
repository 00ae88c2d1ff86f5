"""Silences in Elasticsearch `<prefix>-silences`, shared by every replica.

A silence made through one replica's API must hold on the other (it may lead after a failover),
so the index is the one truth: doc id = silence id, written with `refresh=true` so the next
search of any replica sees it. Each daemon refreshes its snapshot from a search every
`refresh_interval` on a thread of its own; the notify stage only ever reads the snapshot in
memory. Elasticsearch down: the last snapshot stays (counted, logged once per outage), writes
answer `StoreError`. The index is created with an explicit mapping before the first write, so
a write can never auto-create it with a dynamic one. Expired silences older than RETENTION are
deleted one by one (this node has no delete-by-query), at most once an hour.

Each refresh that changes the silences also writes them to `cache` (data_dir/silences-cache.json):
a daemon that starts while Elasticsearch is down judges against those instead of none, and
switches to the index once it answers. The cache is never written back to the index.
"""
from __future__ import annotations

import builtins
import logging
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Optional

from elastic_transport import TransportError
from elasticsearch import ApiError, ConflictError, NotFoundError

from notifiers.clock import utcnow
from notifiers.silences import Silence, Silences

from .filestore import read_silences, write_silences
from .store import (NO_STATS, RETENTION, SilenceExists, SilenceStats, StoreError, UnknownSilence, kept, ordered,
                    parse_silences, report_snapshot)

log = logging.getLogger("kea.silences")

MAPPINGS = {"dynamic": False, "properties": {
    "id": {"type": "keyword"},
    "matchers": {"type": "keyword"},
    "starts_at": {"type": "date"},
    "ends_at": {"type": "date"},
    "created_by": {"type": "keyword"},
    "comment": {"type": "text"},
    "created_at": {"type": "date"},
}}
MAX_SILENCES = 10_000
"""One search reads them all (the index's default max_result_window); beyond it, logged."""
PURGE_EVERY_SECONDS = 3600.0
_NAME = "elasticsearch"
_ERRORS = (TransportError, ApiError)


def silences_index(prefix: str) -> str:
    return f"{prefix}-silences"


class EsSilenceStore:
    name = _NAME

    def __init__(self, client: Any, *, prefix: str, refresh_interval: float = 5.0,
                 stats: SilenceStats = NO_STATS, clock: Callable[[], datetime] = utcnow,
                 cache: Optional[Path] = None) -> None:
        self.client = client.options(max_retries=0)
        self.cache = cache
        self._cached: list[dict[str, Any]] = []
        self.index = silences_index(prefix)
        self.refresh_interval, self.stats, self.clock = refresh_interval, stats, clock
        self._snapshot = Silences()
        self._lock = threading.Lock()
        self._ready = False
        self._failing = False
        self._reported: set[str] = set()
        self._last_purge = float("-inf")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="silences-refresh", daemon=True)
        self.refreshed = 0
        """Successful refreshes so far (tests wait on it)."""

    # -- the daemon's snapshot ------------------------------------------------------------------

    def start(self) -> None:
        """Read the silences once now (so the first due entry is judged against them), then
        refresh every `refresh_interval` until `close()`. Elasticsearch down: the cache's."""
        if not self.refresh():
            self._load_cache()
        self._thread.start()

    def snapshot(self) -> Silences:
        return self._snapshot

    def refresh(self) -> bool:
        """Replace the snapshot with what the index holds now; False (the old one kept) when
        Elasticsearch cannot answer."""
        try:
            silences = self._search()
        except _ERRORS as exc:
            self.stats.store_error(_NAME, "read")
            if not self._failing:
                log.warning("silences: Elasticsearch index %s cannot be read (%s); keeping the %d "
                            "silences read before", self.index, _describe(exc), len(self._snapshot))
                self._failing = True
            return False
        if self._failing:
            log.info("silences: Elasticsearch index %s readable again", self.index)
            self._failing = False
        with self._lock:
            self._snapshot = Silences(kept(silences, self.clock()))
        self.refreshed += 1
        report_snapshot(self._snapshot, store=_NAME, stats=self.stats, now=self.clock())
        self._save_cache()
        self._purge_now_and_then(silences)
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.refresh_interval):
            try:
                self.refresh()
            except Exception:  # the refresh thread must outlive anything one answer does to it
                self.stats.store_error(_NAME, "read")
                log.exception("silences: refreshing from %s failed", self.index)

    # -- reads and writes -------------------------------------------------------------------------

    def list(self) -> list[Silence]:
        try:
            return kept(self._search(), self.clock())
        except _ERRORS as exc:
            self.stats.store_error(_NAME, "read")
            raise StoreError(f"Elasticsearch index {self.index} cannot be read ({_describe(exc)})") from None

    def add(self, silence: Silence) -> None:
        try:
            self._ensure_index()
            self.client.create(index=self.index, id=silence.id, document=silence.to_dict(), refresh=True)
        except ConflictError:
            raise SilenceExists(f"a silence with id {silence.id} exists already") from None
        except _ERRORS as exc:
            self.stats.store_error(_NAME, "write")
            raise StoreError(f"Elasticsearch index {self.index} refused the silence ({_describe(exc)})") from None
        self._replace(silence)

    def expire(self, silence_id: str, now: datetime) -> Silence:
        for _ in range(3):  # another replica expiring it at the same moment: read again
            try:
                found = self.client.get(index=self.index, id=silence_id)
            except NotFoundError:
                raise UnknownSilence(silence_id) from None
            except _ERRORS as exc:
                self.stats.store_error(_NAME, "write")
                raise StoreError(f"Elasticsearch index {self.index} cannot be read ({_describe(exc)})") from None
            readable = parse_silences([found["_source"]], store=_NAME, stats=self.stats)
            if not readable:
                raise StoreError(f"silence {silence_id} in {self.index} cannot be read (see the log)")
            ended = readable[0].expired(now)
            try:
                self.client.index(index=self.index, id=silence_id, document=ended.to_dict(), refresh=True,
                                  if_seq_no=found["_seq_no"], if_primary_term=found["_primary_term"])
            except ConflictError:
                continue
            except _ERRORS as exc:
                self.stats.store_error(_NAME, "write")
                raise StoreError(f"Elasticsearch index {self.index} refused the change ({_describe(exc)})") from None
            self._replace(ended)
            return ended
        raise StoreError(f"silence {silence_id} kept changing while being expired; try again")

    def close(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(5.0)

    # -- the cache in data_dir ----------------------------------------------------------------------

    def _save_cache(self) -> None:
        docs = [s.to_dict() for s in self._snapshot]
        if self.cache is None or docs == self._cached:
            return
        try:
            self.cache.parent.mkdir(parents=True, exist_ok=True)
            write_silences(self.cache, self._snapshot)
            self._cached = docs
        except OSError as exc:
            self.stats.store_error("cache", "write")
            log.warning("silences: cache %s cannot be written (%s)", self.cache, exc)

    def _load_cache(self) -> None:
        if self.cache is None:
            return
        try:
            cached = read_silences(self.cache, store="cache", stats=self.stats)
        except (OSError, ValueError) as exc:
            self.stats.store_error("cache", "read")
            log.error("silences: cache %s cannot be read (%s); judging against no silences until "
                      "Elasticsearch answers", self.cache, exc)
            return
        with self._lock:
            if not self.refreshed:  # the index answered meanwhile: it wins
                self._snapshot = Silences(kept(cached, self.clock()))
        log.warning("silences: using the %d silences cached in %s until Elasticsearch answers",
                    len(self._snapshot), self.cache)

    # -- internals --------------------------------------------------------------------------------

    def _search(self) -> builtins.list[Silence]:
        try:
            found = self.client.search(index=self.index, size=MAX_SILENCES, sort=[{"created_at": "asc"}, {"id": "asc"}],
                                       query={"match_all": {}}, track_total_hits=True)
        except NotFoundError:  # no silence made yet: the index appears with the first
            return []
        total = found["hits"]["total"]["value"]
        if total > MAX_SILENCES:
            log.error("silences: %s holds %d silences; only the oldest %d are read", self.index, total, MAX_SILENCES)
        fresh = [h["_source"] for h in found["hits"]["hits"] if h["_id"] not in self._reported]
        silences = parse_silences(fresh, store=_NAME, stats=self.stats)
        good = {s.id for s in silences}
        self._reported |= {h["_id"] for h in found["hits"]["hits"]} - good  # logged once, not every refresh
        return ordered(silences)

    def _ensure_index(self) -> None:
        if not self._ready:
            # 400 resource_already_exists: another replica (or an earlier run) made it
            self.client.options(ignore_status=400).indices.create(index=self.index, mappings=MAPPINGS)
            self._ready = True

    def _replace(self, silence: Silence) -> None:
        """This replica sees its own write at once, not at the next refresh."""
        with self._lock:
            others = [s for s in self._snapshot if s.id != silence.id]
            self._snapshot = Silences(ordered([*others, silence]))

    def _purge_now_and_then(self, silences: builtins.list[Silence]) -> None:
        if time.monotonic() - self._last_purge < PURGE_EVERY_SECONDS:
            return
        self._last_purge = time.monotonic()
        cutoff = self.clock() - RETENTION
        for s in silences:
            if s.ends_at <= cutoff:
                try:
                    self.client.options(ignore_status=404).delete(index=self.index, id=s.id, refresh=True)
                except _ERRORS as exc:
                    self.stats.store_error(_NAME, "purge")
                    log.warning("silences: could not purge %s from %s (%s)", s.id, self.index, _describe(exc))
                    return


def _describe(exc: Exception) -> str:
    status = getattr(exc, "status_code", None) or getattr(getattr(exc, "meta", None), "status", None)
    return f"{exc.__class__.__name__}{f' {status}' if status else ''}"
