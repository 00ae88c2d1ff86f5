"""One batch of documents into Elasticsearch: `streaming_bulk`, per-item outcomes, retries.

Outcomes per document (what the `_bulk` API answers per item):
    2xx                     indexed.
    409                     duplicate: `create` found the `_id` (a replay), or an external
                            `version` is not newer than the stored one. Success: the copy in ES
                            is at least as new.
    429, 5xx                Elasticsearch is overloaded or a shard is unavailable: retried with
                            backoff (tenacity), then handed back as `remaining` for the spool.
    other 4xx               rejected: the document itself is wrong (a mapping conflict such as
                            `document_parsing_exception`). Logged with ES's reason, counted by it,
                            never retried: retrying cannot make it right.
Connection errors and timeouts (no answer at all) and whole-request 401/403 (credentials or
privileges, a cluster problem, not the documents') are retried like 429, then `remaining`.

`streaming_bulk` runs with `max_retries=0`: its own retry sleeps blindly and knows only 429;
tenacity owns the policy here, with a sleep the sink can interrupt when it is told to stop.
"""
from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

from elastic_transport import TransportError
from elasticsearch.helpers import streaming_bulk
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential, wait_random
from tenacity.stop import stop_base

from watcher.es.doc import Doc
from watcher.es.stats import NO_SINK_STATS, SinkStats

log = logging.getLogger("kea.es")

#: Whole-request or per-item statuses that say "not now", not "never".
_RETRY_STATUS = frozenset({401, 403, 408, 429})


@dataclass(slots=True)
class SendResult:
    indexed: int = 0
    duplicates: int = 0
    rejected: int = 0
    remaining: list[Doc] = field(default_factory=list)
    """Not acknowledged after every attempt: the caller spools them."""
    error: str = ""
    """The last reason a send was retried (no secrets: ES error types and transport messages)."""

    @property
    def reached(self) -> bool:
        """Elasticsearch answered for every document (nothing is left to spool)."""
        return not self.remaining


class _Again(Exception):
    """Some documents must be sent again."""


class _StopWhen(stop_base):
    """A tenacity stop condition: stop as soon as `give_up()` turns true."""

    def __init__(self, give_up: Callable[[], bool]) -> None:
        self.give_up = give_up

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.give_up()


class BulkSender:
    def __init__(self, client: Any, *, chunk_size: int, max_chunk_bytes: int, stats: SinkStats = NO_SINK_STATS,
                 sleep: Callable[[float], None] = time.sleep, initial_backoff: float = 0.25,
                 max_backoff: float = 5.0) -> None:
        # Our retries replace the client's: a connection error must come back to us quickly
        # so the documents reach the spool, not sit in the transport's own retry loop.
        self.client = client.options(max_retries=0, retry_on_timeout=False)
        self.chunk_size = chunk_size
        self.max_chunk_bytes = max_chunk_bytes
        self.stats = stats
        self.sleep = sleep
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self._last_logged = ""

    def send(self, docs: Sequence[Doc], *, attempts: int, give_up: Callable[[], bool] = lambda: False) -> SendResult:
        """Send `docs`, retrying what ES did not take up to `attempts` times (fewer when
        `give_up()` turns true, e.g. the sink's stop deadline passed)."""
        result = SendResult()
        pending = list(docs)
        retrying = Retrying(
            stop=stop_after_attempt(max(1, attempts)) | _StopWhen(give_up),
            # 0.25 s, 0.5 s, 1 s ... up to max_backoff, plus jitter so replicas don't retry in step
            wait=wait_exponential(multiplier=self.initial_backoff, max=self.max_backoff) + wait_random(0, self.initial_backoff),
            retry=retry_if_exception_type(_Again),
            sleep=self.sleep,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    pending = self._attempt(pending, result)
                    if pending:
                        self.stats.bulk_error(_reason_label(result.error))
                        raise _Again(result.error)
        except _Again:
            result.remaining = pending
        if result.reached and self._last_logged:
            log.info("elasticsearch bulk writes succeed again")
            self._last_logged = ""
        return result

    def _attempt(self, pending: list[Doc], result: SendResult) -> list[Doc]:
        again: list[Doc] = []
        indexed: Counter[str] = Counter()
        dupes: Counter[str] = Counter()
        done = 0
        t0 = time.monotonic()
        try:
            outcomes = streaming_bulk(
                self.client, (d.action() for d in pending), chunk_size=self.chunk_size,
                max_chunk_bytes=self.max_chunk_bytes, raise_on_error=False, raise_on_exception=False,
                max_retries=0, yield_ok=True,
            )
            for doc, (ok, item) in zip(pending, outcomes):
                done += 1
                info = next(iter(item.values()))
                status = info.get("status", 500)
                if ok:
                    indexed[doc.kind] += 1
                elif status == 409:
                    dupes[doc.kind] += 1
                elif status in _RETRY_STATUS or status >= 500 or "exception" in info and status not in (400, 413):
                    # "exception" in info: the whole request failed (not one item)
                    again.append(doc)
                    result.error = f"{status} {_error_type(info)}"
                else:
                    self._reject(doc, status, info)
                    result.rejected += 1
        except TransportError as exc:
            # no HTTP answer: refused, reset, DNS, TLS, timeout. The message holds the node URL
            # (never credentials: those travel in headers).
            again.extend(pending[done:])
            result.error = describe_error(exc)
        finally:
            self.stats.bulk_seconds(time.monotonic() - t0)
        for kind, n in indexed.items():
            self.stats.indexed(kind, n)
        for kind, n in dupes.items():
            self.stats.duplicate(kind, n)
        result.indexed += sum(indexed.values())
        result.duplicates += sum(dupes.values())
        if again and result.error != self._last_logged:
            log.warning("elasticsearch bulk: %d of %d documents not accepted (%s); retrying with backoff",
                        len(again), len(pending), result.error)
            self._last_logged = result.error
        return again

    def _reject(self, doc: Doc, status: int, info: dict[str, Any]) -> None:
        reason = _error_type(info)
        self.stats.rejected(doc.kind, reason)
        err = info.get("error")
        detail = err.get("reason", "") if isinstance(err, dict) else str(err or "")
        caused = err.get("caused_by", {}).get("reason", "") if isinstance(err, dict) else ""
        log.error("elasticsearch rejected %s/%s (%d %s): %s%s", doc.index, doc.id, status, reason,
                  detail[:500], f" (caused by: {caused[:300]})" if caused else "")


def _error_type(info: dict[str, Any]) -> str:
    err = info.get("error")
    if isinstance(err, dict):
        return str(err.get("type", "unknown"))
    exc: Optional[BaseException] = info.get("exception")
    return type(exc).__name__ if exc is not None else "unknown"


def _reason_label(error: str) -> str:
    """A low-cardinality metric label from an error line: `ConnectionError`, `429`, `503`."""
    head = error.split(" ", 1)[0].rstrip(":")
    return head or "unknown"


def describe_error(exc: BaseException) -> str:
    """`ConnectionError: <message>` for logs. Transport messages name the node URL, never the
    credentials (those travel in headers)."""
    message = getattr(exc, "message", None) or str(exc)
    return f"{type(exc).__name__}: {str(message)[:300]}"
