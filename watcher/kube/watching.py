"""The one list → watch loop: resourceVersion tracking, 410 relist with a diff, backoff.

Per resource (and namespace) one thread:

1. LIST (paged, a consistent read) → records with `listed=True` on the first pass: they prime
   rule state and never fire for history. Remember uid → resourceVersion (plus a tiny stub).
2. WATCH from the list's resourceVersion with `allowWatchBookmarks=true` and a server-side
   `timeoutSeconds`, reading the raw stream ourselves. Every event and every BOOKMARK moves
   the resourceVersion forward, so a reconnect resumes exactly where we stopped.
3. The stream ends cleanly (server timeout) → watch again from the last resourceVersion.
   Transport errors, 429 and 5xx → back off (full jitter, Retry-After as a floor) and resume
   from the same resourceVersion; nothing is relisted, nothing repeated. A refused connection
   (apiserver down or restarting) is retried within a short cap (`Backoff.refused_maximum`),
   so the watch is back within seconds of the server answering. Only when the server
   itself keeps answering with errors (5 sessions in a row) do we relist. Other 4xx (RBAC,
   a resource not served) are logged as errors and retried every minute.
4. 410 Gone (HTTP or an in-stream ERROR Status), or an immediately empty stream (a known
   apiserver quirk, kubernetes#104171) → relist and diff against what we announced: new and
   changed objects go out as real changes (`listed=False`: they happened while we were away),
   vanished ones as DELETED, unchanged ones not at all.
"""
from __future__ import annotations

import http.client
import logging
import random
import threading
import time
from typing import Any, Callable, Optional

import orjson
import urllib3

from rules.model import Record
from watcher.kube.client import (Backoff, Gone, KubeError, Rejected, Transport, Unavailable, status_error,
                                 transport_reason)
from watcher.kube.paging import pages_ahead
from watcher.kube.resources import KnownObjects, ListDiff, ResourceSpec
from watcher.kube.stats import NO_WATCH_STATS, WatchStats
from watcher.kube.stream import iter_events
from watcher.normalize import MalformedObject, normalize

log = logging.getLogger("kea.kube")

#: Objects per LIST page: bounds the memory of one response on a big cluster.
PAGE_SIZE = 500
#: A watch that ends cleanly this fast without a single line is the stale-RV quirk, not a
#: server timeout.
EMPTY_STREAM_SECONDS = 1.0
#: After this many failed sessions in a row without progress where the server answered with
#: an error, relist instead of resuming: whatever it keeps failing on, a fresh consistent list
#: is the safe way back. (An unreachable server is not such a case: resume when it is back.)
RELIST_AFTER_FAILURES = 5
TRANSPORT_REASONS = frozenset({"connection", "timeout", "protocol", "tls"})
#: What a cut or stalled stream raises while we read it (urllib3 2.x, http.client, sockets).
TRANSPORT_ERRORS = (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError)
#: Rejections (403, 404) are retried too (RBAC may be fixed while we run), but slowly.
REJECTED_DELAY = 60.0


class Watcher:
    def __init__(self, api_client: Any, spec: ResourceSpec, *, namespace: Optional[str], cluster: str,
                 sink: Callable[[Record], None], stop: threading.Event, watch_timeout: float,
                 request_timeout: float, label_selector: str = "", stats: WatchStats = NO_WATCH_STATS,
                 sleep: Optional[Callable[[float], Any]] = None, clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time, max_backoff: float = 30.0) -> None:
        """`watch_timeout`: the server-side `timeoutSeconds`; `request_timeout`: the client's
        read timeout, longer, so a silent partition ends the read instead of hanging forever
        (kubernetes-client/python#1148). `sleep` waits between retries and should return
        early on `stop` (the default is `stop.wait`)."""
        if request_timeout <= watch_timeout:
            raise ValueError("request_timeout must exceed watch_timeout, or a quiet watch looks dead")
        self.spec, self.namespace, self.cluster, self.sink, self.stop = spec, namespace, cluster, sink, stop
        self.watch_timeout, self.request_timeout = watch_timeout, request_timeout
        self.label_selector = label_selector if spec.label_selector else ""
        self.stats = stats
        self.sleep = sleep or stop.wait
        self.clock, self.wall_clock = clock, wall_clock
        self.name = spec.name + (f"/{namespace}" if namespace else "")
        self.listed = threading.Event()
        """Set once the initial LIST has been delivered (for /readyz)."""
        self.last_event_monotonic: Optional[float] = None
        """`clock()` of the last sign of life: list done, event, bookmark, clean stream end."""
        self.resource_version = ""
        self.known = KnownObjects(spec)
        self._transport = Transport(api_client)
        self._backoff = Backoff(maximum=max_backoff)
        self._path = spec.path(namespace)
        self._relist_reason = ""
        self._failures = 0
        self._response: Any = None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"watch-{self.name}", daemon=True)
        self._interrupter = threading.Thread(target=self._interrupt_on_stop, name=f"watch-{self.name}-stop", daemon=True)

    # -- thread ------------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()
        self._interrupter.start()

    def join(self, timeout: Optional[float] = None) -> None:
        self._thread.join(timeout)

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def watching(self) -> bool:
        """Listed, and no failure since the stream last made progress: what this watcher has
        passed on so far is complete (the daemon's checkpoint advances only while it is)."""
        return self.listed.is_set() and self._failures == 0

    def _interrupt_on_stop(self) -> None:
        # A quiet watch blocks in a socket read for up to request_timeout; shutting the socket
        # down from here ends that read at once (urllib3 ≥ 2.3 HTTPResponse.shutdown).
        self.stop.wait()
        with self._lock:
            response = self._response
        if response is not None:
            try:
                response.shutdown()
            except Exception:  # already closed or released: the reader is not blocked
                pass

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                if not self.resource_version:
                    self._list()
                self._watch()
            except Gone as exc:
                self._schedule_relist(exc.reason, str(exc))
            except KubeError as exc:
                if self.stop.is_set():
                    break
                self._failures += 1
                delay = (REJECTED_DELAY if isinstance(exc, Rejected)
                         else self._backoff.next(exc.retry_after, refused=exc.reason == "connection"))
                self.stats.reconnect(self.spec.name, exc.reason)
                level = logging.ERROR if isinstance(exc, Rejected) else logging.WARNING
                log.log(level, "%s: %s; retrying in %.1fs (failure %d)", self.name, exc, delay, self._failures)
                if (self._failures >= RELIST_AFTER_FAILURES and self.resource_version
                        and exc.reason not in TRANSPORT_REASONS):
                    self._schedule_relist("repeated_errors", f"{self._failures} failures in a row")
                self.sleep(delay)
            except Exception:  # a bug must not end the watch: count it, log it, go on
                if self.stop.is_set():
                    break
                self._failures += 1
                self.stats.reconnect(self.spec.name, "internal_error")
                delay = self._backoff.next()
                log.exception("%s: unexpected error; retrying in %.1fs", self.name, delay)
                self.sleep(delay)
        log.debug("%s: stopped", self.name)

    def _schedule_relist(self, reason: str, detail: str) -> None:
        log.info("%s: relisting (%s: %s)", self.name, reason, detail)
        self.stats.relist(self.spec.name, reason)
        self.resource_version, self._relist_reason = "", reason

    def _progress(self) -> None:
        self._failures = 0
        self._backoff.reset()

    def _touch(self) -> None:
        self.last_event_monotonic = self.clock()

    # -- HTTP --------------------------------------------------------------------------------------

    def _open(self, query: dict[str, Any], timeout: float) -> Any:
        if self.label_selector:
            query["labelSelector"] = self.label_selector
        if self.spec.field_selector:
            query["fieldSelector"] = self.spec.field_selector
        response = self._transport.open("GET", self._path, query=query, timeout=timeout, stream=True)
        with self._lock:
            self._response = response
        if self.stop.is_set():  # stop came between the request and the registration
            response.close()
        return response

    def _done(self, response: Any, clean: bool) -> None:
        with self._lock:
            self._response = None
        if clean:
            response.release_conn()
        else:
            response.close()

    # -- LIST --------------------------------------------------------------------------------------

    def _list(self) -> None:
        initial = not self.listed.is_set()
        diff = ListDiff(self.known)
        changes = {"ADDED": 0, "MODIFIED": 0, "DELETED": 0}
        rv = ""
        for page in pages_ahead(self._fetch_page, name=self.name):
            if self.stop.is_set():
                return
            for obj in page.get("items") or ():
                kind = self._from_list(obj, diff, initial)
                if kind:
                    changes[kind] += 1
            # Every page carries the snapshot's resourceVersion; the watch starts from it.
            rv = str((page.get("metadata") or {}).get("resourceVersion") or "")
        for uid in diff.gone():
            self._emit("DELETED", self.known.stub(uid), listed=initial)
            self.known.forget(uid)
            changes["DELETED"] += 1
        if not rv:
            raise Unavailable("bad_list", f"LIST {self._path} returned no resourceVersion")
        self.resource_version = rv
        self._progress()
        self._touch()
        self.stats.last_event(self.spec.name, self.wall_clock())
        if initial:
            log.info("%s: listed %d objects at resourceVersion %s", self.name, len(self.known), rv)
            self.listed.set()
        else:
            log.info("%s: relisted (%s) at resourceVersion %s: %d added, %d modified, %d deleted, %d unchanged",
                     self.name, self._relist_reason, rv, changes["ADDED"], changes["MODIFIED"],
                     changes["DELETED"], diff.unchanged)

    def _fetch_page(self, token: str) -> dict[str, Any]:
        """One LIST page (`token`: the previous page's continue token, "" for the first)."""
        query: dict[str, Any] = {"limit": PAGE_SIZE}
        if token:
            query["continue"] = token
        # Pages are bounded by request_timeout too, but a LIST is not a long poll.
        response = self._open(query, min(self.request_timeout, 60.0))
        clean = False
        try:
            page = self._read_page(response)
            clean = True
        finally:
            self._done(response, clean)
        return page

    def _read_page(self, response: Any) -> dict[str, Any]:
        try:
            page = orjson.loads(response.read())
        except orjson.JSONDecodeError:
            raise Unavailable("bad_json", f"LIST {self._path}: response is not JSON") from None
        except Exception as exc:  # a cut connection while reading the body
            raise Unavailable("protocol", f"LIST {self._path}: {exc.__class__.__name__}") from None
        if not isinstance(page, dict):
            raise Unavailable("bad_json", f"LIST {self._path}: response is not an object")
        return page

    def _from_list(self, obj: Any, diff: ListDiff, initial: bool) -> Optional[str]:
        uid, rv = _identity(obj)
        if not uid:
            self._skip(obj, "no_uid", initial)
            return None
        kind = diff.change(uid, rv)
        if kind is not None:
            self.known.remember(uid, rv, obj)
            # A first list primes; in a relist, a new or changed object really changed while
            # we were disconnected, so it may fire.
            self._emit(kind, obj, listed=initial)
        return kind

    # -- WATCH -------------------------------------------------------------------------------------

    def _watch(self) -> None:
        query = {
            "watch": "true",
            "resourceVersion": self.resource_version,
            "allowWatchBookmarks": "true",
            # Spread the reconnects of many watchers; stays below request_timeout.
            "timeoutSeconds": max(1, int(self.watch_timeout * random.uniform(0.9, 1.0))),
        }
        started = self.clock()
        response = self._open(query, self.request_timeout)
        lines, clean = 0, False
        try:
            for event in iter_events(response.read1):
                if self.stop.is_set():
                    return
                lines += 1
                self._handle(event)
            clean = not self.stop.is_set()
        except Exception as exc:
            if self.stop.is_set():
                return
            if isinstance(exc, KubeError) or not isinstance(exc, TRANSPORT_ERRORS):
                raise  # not the network: _run counts it as internal_error, on the long backoff
            # ProtocolError / IncompleteRead / reset / read timeout mid-stream.
            raise Unavailable(transport_reason(exc), f"watch {self._path}: {exc.__class__.__name__}: {exc}") from None
        finally:
            self._done(response, clean)
        if not clean:
            return
        if lines == 0 and self.clock() - started < min(EMPTY_STREAM_SECONDS, self.watch_timeout / 2):
            # kubernetes#104171: a too-old RV can get 200 and an empty body instead of 410.
            self._failures += 1
            delay = self._backoff.next()
            self._schedule_relist("empty_stream", f"watch ended at once without events; waiting {delay:.1f}s")
            self.sleep(delay)
            return
        log.debug("%s: watch ended after %d events; resuming at %s", self.name, lines, self.resource_version)
        self._touch()

    def _handle(self, event: dict[str, Any]) -> None:
        typ, obj = event.get("type"), event.get("object")
        if typ == "ERROR":
            raise status_error(obj if isinstance(obj, dict) else {})
        rv = _rv(obj)
        self.stats.event(self.spec.name, str(typ)[:16])
        if typ == "BOOKMARK":
            # Bookmarks carry only metadata.resourceVersion: progress without a change.
            if rv:
                self.resource_version = rv
        elif typ in ("ADDED", "MODIFIED", "DELETED"):
            uid, _ = _identity(obj)
            if uid and isinstance(obj, dict):  # (an object with a uid is a dict)
                if typ == "DELETED":
                    self.known.forget(uid)
                else:
                    self.known.remember(uid, rv, obj)
                self._emit(typ, obj, listed=False)
            else:
                self._skip(obj, "no_uid", False)
            if rv:
                self.resource_version = rv
        else:
            self.stats.skipped("bad_watch_type")
            log.warning("%s: skipped a watch event of type %r", self.name, typ)
        self._progress()
        self._touch()
        self.stats.last_event(self.spec.name, self.wall_clock())

    # -- records -----------------------------------------------------------------------------------

    def _emit(self, watch_type: str, obj: Any, *, listed: bool) -> None:
        try:
            record = normalize(watch_type, obj, cluster=self.cluster, kind=self.spec.kind, listed=listed)
        except MalformedObject as exc:
            self.stats.skipped(exc.reason)
            log.warning("%s: skipped %s %s: %s", self.name, watch_type, _where(obj), exc)
            return
        except Exception:  # a normaliser bug: raising would resume at this object again, forever
            self.stats.skipped("normalize_error")
            log.exception("%s: skipped %s %s: the normaliser failed", self.name, watch_type, _where(obj))
            return
        self.sink(record)

    def _skip(self, obj: Any, reason: str, listed: bool) -> None:
        self.stats.skipped(reason)
        log.warning("%s: skipped an object without metadata.uid: %s", self.name, _where(obj))


def _rv(obj: Any) -> str:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    return str(meta.get("resourceVersion") or "") if isinstance(meta, dict) else ""


def _identity(obj: Any) -> tuple[str, str]:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    if not isinstance(meta, dict):
        return "", ""
    return str(meta.get("uid") or ""), str(meta.get("resourceVersion") or "")


def _where(obj: Any) -> str:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    if not isinstance(meta, dict):
        return "(no metadata)"
    return f"{meta.get('namespace') or ''}/{meta.get('name') or '?'}"
