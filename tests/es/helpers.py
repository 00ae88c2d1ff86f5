"""Shared bits for the Elasticsearch tests: record generators, a stats collector, waiting on a
condition with a deadline (never a fixed sleep to make time pass)."""
from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import datetime, timezone
from typing import Callable

from elasticsearch import ApiError

from tests.factories import T0, event, rec

FIXED_NOW = datetime(2026, 11, 21, 12, 0, 0, tzinfo=timezone.utc)


def polled_hits(es, index: str, query: dict | None = None, size: int = 50) -> list[dict]:
    """The `_source`s of `index` matching `query`, for a test that polls until they are there:
    an index that does not exist yet, or whose shards are still starting (ES answers 503
    search_phase_execution_exception for a moment after the daemon creates it), has none yet."""
    try:
        es.indices.refresh(index=index, ignore_unavailable=True, allow_no_indices=True)
        found = es.search(index=index, query=query or {"match_all": {}}, ignore_unavailable=True,
                          allow_no_indices=True, size=size)
    except ApiError as e:
        if e.meta.status == 503:
            return []
        raise
    return [h["_source"] for h in found["hits"]["hits"]]


def polled_count(es, index: str, **term) -> int:
    """How many documents of `index` match `term` (all without), for polling as `polled_hits`."""
    query = {"term": term} if term else {"match_all": {}}
    try:
        es.indices.refresh(index=index, ignore_unavailable=True, allow_no_indices=True)
        return es.count(index=index, query=query, ignore_unavailable=True, allow_no_indices=True)["count"]
    except ApiError as e:
        if e.meta.status == 503:
            return 0
        raise


def fixed_clock() -> datetime:
    return FIXED_NOW


def events(n: int, *, start: int = 0, prefix: str = "ev", cluster: str = "test", spread_seconds: float = 20.0,
           labels: dict | None = None) -> list:
    """`n` distinct Event records (uid `uid-<prefix><i>`), `spread_seconds` apart from T0:
    with the default, 10,000 events span 2.3 days, so several daily indices."""
    out = []
    for i in range(start, start + n):
        obj = event(name=f"{prefix}{i}", ns=f"ns-{i % 7}", reason=("BackOff", "Unhealthy", "Killing", "FailedMount")[i % 4],
                    type_="Warning" if i % 4 != 2 else "Normal", count=1 + i % 3, last=i * spread_seconds,
                    message=f"message {i}")
        if labels is not None:
            obj["metadata"]["labels"] = labels
        out.append(rec(obj, cluster=cluster))
    return out


class Stats:
    """A `watcher.es.stats.SinkStats` that remembers every report under the name of the series
    it moves (`docs_indexed` for `kea_es_docs_indexed_total`, ...): counters summed by (name,
    sorted labels), gauges by last value, bulk durations as a list of observations."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counters: Counter = Counter()
        self.gauges: dict = {}
        self.observations: dict = {}

    def indexed(self, index_kind: str, count: int) -> None:
        self._count("docs_indexed", count, index_kind=index_kind)

    def duplicate(self, index_kind: str, count: int) -> None:
        self._count("docs_duplicate", count, index_kind=index_kind)

    def rejected(self, index_kind: str, reason: str) -> None:
        self._count("docs_rejected", 1, index_kind=index_kind, reason=reason)

    def invalid(self, kind: str) -> None:
        self._count("docs_invalid", 1, kind=kind)

    def skipped(self, index_kind: str, reason: str) -> None:
        self._count("docs_skipped", 1, index_kind=index_kind, reason=reason)

    def spooled(self, count: int) -> None:
        self._count("docs_spooled", count)

    def bulk_error(self, reason: str) -> None:
        self._count("bulk_errors", 1, reason=reason)

    def bulk_seconds(self, seconds: float) -> None:
        with self.lock:
            self.observations.setdefault("bulk_seconds", []).append(seconds)

    def spool_bytes(self, size: int) -> None:
        self._set("spool_bytes", size)

    def spool_dropped(self, reason: str, count: int) -> None:
        self._count("spool_dropped", count, reason=reason)

    def spool_corrupt(self) -> None:
        self._count("spool_corrupt", 1)

    def reachable(self, up: bool) -> None:
        self._set("es_up", 1.0 if up else 0.0)

    # watcher.search.stats.HistoryStats (the SQLite history), under the kea_local_history_* names
    def docs(self, index_kind: str, result: str, count: int) -> None:
        self._count("history_docs", count, index_kind=index_kind, result=result)

    def dropped(self, reason: str, count: int) -> None:
        self._count("history_dropped", count, reason=reason)

    def write_error(self) -> None:
        self._count("history_write_errors", 1)

    def used_bytes(self, value: int) -> None:
        self._set("history_bytes", value)

    def _count(self, name: str, value: float, **labels: str) -> None:
        with self.lock:
            self.counters[(name, tuple(sorted(labels.items())))] += value

    def _set(self, name: str, value: float) -> None:
        with self.lock:
            self.gauges[(name, ())] = value

    def total(self, name: str, **labels) -> float:
        with self.lock:
            return sum(v for (n, ls), v in self.counters.items()
                       if n == name and all(dict(ls).get(k) == want for k, want in labels.items()))

    def gauge(self, name: str):
        with self.lock:
            return self.gauges.get((name, ()))


def wait_for(condition: Callable[[], bool], *, timeout: float, what: str, poll: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(poll)


def prefix_of(es_prefix: str) -> str:
    """The harness gives `t1a2b3c4d-`; our names add their own dash."""
    return es_prefix.rstrip("-")


__all__ = ["T0", "events", "Stats", "wait_for", "prefix_of", "fixed_clock", "FIXED_NOW"]
