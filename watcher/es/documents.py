"""Records → Elasticsearch documents, as pure functions (no client, no clock reads).

Every document gets a deterministic `_id` from the cluster's own data, so a replay, a relist, a
restart or a spool replay writes the same `_id` again and Elasticsearch answers 409 instead of
storing a second copy:
    Event        `<event uid>:<count>`: each count bump of one Event is its own document, so
                 Kibana shows the repeats over time; a MODIFIED without a new count is a no-op.
    termination  `<pod uid>/<container>/<finishedAt>/<containerID>`: the same termination seen
                 first in `state.terminated` and later in `lastState.terminated` is one document.
    endpoints    `<service key>/<slice uid>:<resourceVersion>` of the change (see endpoints.py).
`@timestamp` is the object's own time, and the daily index is derived from it, within the
retention window (see retention.py): a document dated before the oldest day retention keeps is
not written (counted in `docs_skipped{reason="older_than_retention"}` and logged at debug),
because writing it to its day would re-create an index retention deleted, and writing it to
today's would store a fresh copy every day (ids are unique per index only) of something older
than what we promise to keep. One dated more than `FUTURE_SKEW` ahead goes to today's index, so
retention retires it.
"""
from __future__ import annotations

import dataclasses
import logging
import re
import threading
from datetime import datetime, timedelta
from typing import Callable, Optional

from rules.model import ContainerInfo, Record, Termination
from rules.state import ClusterState, Observation
from watcher.es.doc import Doc, common_fields, iso
from watcher.es.endpoints import EndpointHealth
from watcher.es.retention import FUTURE_SKEW, oldest_kept_day, utc_day
from watcher.es.stats import NO_SINK_STATS, SinkStats
from watcher.es.templates import daily_index, daily_index_day

log = logging.getLogger("kea.es")

Clock = Callable[[], datetime]


def event_doc(record: Record, *, prefix: str, now: datetime) -> Optional[Doc]:
    """The document for one observation of an Event; None when the record is not an Event."""
    ev = record.event
    if ev is None:
        return None
    when = record.timestamp or now
    src = common_fields(record, when)
    stamp = src["@timestamp"]  # an Event's own times are mostly that one: formatted once
    # Kibana users look for the involved object, not the Event object: they get the plain names.
    src.update(
        reason=ev.reason, type=ev.type, message=ev.message, count=ev.count,
        first_timestamp=stamp if ev.first_timestamp == when else iso(ev.first_timestamp),
        last_timestamp=stamp if ev.last_timestamp == when else iso(ev.last_timestamp),
        kind=ev.involved_kind, name=ev.involved_name, uid=ev.involved_uid, field_path=ev.involved_field_path,
        node=ev.host, reporting_component=ev.component, event_name=record.name, event_uid=record.uid,
    )
    if ev.involved_namespace and not record.namespace:
        src["namespace"] = ev.involved_namespace
    ident = record.uid or f"{record.cluster}/{record.namespace}/{record.name}"
    return Doc("events", daily_index(prefix, "events", when), f"{ident}:{ev.count}", src)


def termination_id(record: Record, container: ContainerInfo, term: Termination) -> str:
    pod = record.uid or f"{record.cluster}/{record.namespace}/{record.name}"
    return f"{pod}/{container.name}/{iso(term.finished_at) or ''}/{term.container_id}"


def termination_docs(record: Record, *, prefix: str, now: datetime) -> list[Doc]:
    """One document per container termination present in the Pod's status (current state and
    last state), new or not."""
    pod = record.pod
    if pod is None:
        return []
    return [doc for c in pod.containers for term in (c.terminated, c.last_terminated)
            if term is not None and (doc := termination_doc(record, c, term, prefix=prefix, now=now)) is not None]


def termination_doc(record: Record, c: ContainerInfo, term: Termination, *, prefix: str,
                    now: datetime) -> Optional[Doc]:
    """The document of one container termination; None while it has no identity yet (no
    finishedAt and no container id: a termination still being written)."""
    pod = record.pod
    if pod is None or (term.finished_at is None and not term.container_id):
        return None
    when = term.finished_at or record.timestamp or now
    src = common_fields(record, when)
    src.update(
        pod=record.name, pod_uid=record.uid, container=c.name, init=c.init, ephemeral=c.ephemeral,
        state="terminated" if term is c.terminated else "last_terminated",
        reason=term.reason, exit_code=term.exit_code, signal=term.signal, message=term.message,
        oom=term.reason == "OOMKilled", started_at=iso(term.started_at), finished_at=iso(term.finished_at),
        container_id=term.container_id, restart_count=c.restart_count, memory_limit=c.memory_limit,
        memory_limit_bytes=parse_quantity(c.memory_limit), node=pod.node, workload=record.workload,
        workload_kind=record.workload_kind, workload_name=record.workload_name,
    )
    return Doc("terminations", daily_index(prefix, "terminations", when), termination_id(record, c, term), src)


_QUANTITY = re.compile(r"^([0-9.]+(?:[eE][0-9]+)?)([a-zA-Z]*)$")
_SUFFIX = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
           "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}


def parse_quantity(text: str) -> Optional[int]:
    """A Kubernetes memory quantity (`512Mi`, `1G`, `1e9`) in bytes; None if empty or unknown."""
    m = _QUANTITY.match(text.strip()) if text else None
    if not m or m.group(2) not in _SUFFIX:
        return None
    try:
        return int(float(m.group(1)) * _SUFFIX[m.group(2)])
    except ValueError:
        return None


def within_retention(doc: Doc, *, prefix: str, now: datetime, retention_days: int) -> Optional[Doc]:
    """`doc` in the daily index the retention window allows: None when its day is older than
    retention keeps, today's index when it is dated beyond `FUTURE_SKEW`, else unchanged
    (as is any index that is not daily)."""
    return _placed(doc, prefix, now, *_day_window(now, retention_days))


def _day_window(now: datetime, retention_days: int) -> tuple[Optional[datetime], datetime]:
    """(the oldest day kept or None, the last day a document may be dated) around `now`."""
    return oldest_kept_day(now, retention_days), utc_day(now + FUTURE_SKEW)


class _DayWindows:
    """`_day_window(now)`, computed again only when `now` reaches another UTC day (it
    cannot change within one): a backlog asks it for every record. Thread-safe: the day and
    its window are replaced together, as one tuple."""

    def __init__(self, retention_days: int) -> None:
        self.retention_days = retention_days
        self._current: Optional[tuple[datetime, datetime, tuple[Optional[datetime], datetime]]] = None

    def at(self, now: datetime) -> tuple[Optional[datetime], datetime]:
        current = self._current
        if current is not None and now.tzinfo is not None and current[0] <= now < current[1]:
            return current[2]
        window = _day_window(now, self.retention_days)
        if now.tzinfo is not None:
            since = utc_day(now)
            self._current = (since, since + timedelta(days=1), window)
        return window


def _placed(doc: Doc, prefix: str, now: datetime, cutoff: Optional[datetime], last: datetime) -> Optional[Doc]:
    parsed = daily_index_day(prefix, doc.index)
    if parsed is None:
        return doc
    kind, day = parsed
    if cutoff is not None and day < cutoff:
        return None
    if day > last:
        return dataclasses.replace(doc, index=daily_index(prefix, kind, now))
    return doc


class Documenter:
    """Record → documents. Which terminations are new (a Pod's status repeats its last
    termination in every later update) and a Service's counts (across its slices) come from the
    rules' cluster state: the daemon passes the observation its pipeline made of the record, so
    Kibana and the alerts agree by construction; used on its own (tests, benchmarks) the
    documenter keeps a state of its own. Thread-safe; a restart rebuilds the state, and
    deterministic ids keep what it re-emits from duplicating. `retention_days` (0: keep forever)
    bounds the days documents are written to; `stats` counts the ones left out."""

    def __init__(self, *, prefix: str, clock: Clock, retention_days: int = 0,
                 stats: SinkStats = NO_SINK_STATS) -> None:
        self.prefix = prefix
        self.clock = clock
        self.retention_days = retention_days
        self.stats = stats
        self.endpoints = EndpointHealth(prefix=prefix)
        self._state = ClusterState()
        self._lock = threading.Lock()
        self._windows = _DayWindows(retention_days)

    def documents(self, record: Record, observation: Optional[Observation] = None) -> list[Doc]:
        now = self.clock()
        if record.kind == "Event":
            doc = event_doc(record, prefix=self.prefix, now=now)
            docs = [doc] if doc else []
        else:
            with self._lock:
                docs = self._object_documents(record, observation, now)
        return self._within_retention(docs, now)

    def _object_documents(self, record: Record, observation: Optional[Observation], now: datetime) -> list[Doc]:
        obs = observation if observation is not None else self._state.observe(record)
        if record.kind == "Pod":
            return [doc for new in obs.terminations
                    if (doc := termination_doc(record, new.container, new.termination,
                                               prefix=self.prefix, now=now)) is not None]
        if obs.service is None or not obs.authoritative:
            return []
        return self.endpoints.observe(record, obs.service, now=now)

    def _within_retention(self, docs: list[Doc], now: datetime) -> list[Doc]:
        if not docs:
            return docs
        window = self._windows.at(now)
        out = []
        for doc in docs:
            placed = _placed(doc, self.prefix, now, *window)
            if placed is None:
                log.debug("not writing %s %s: older than retention (%d days), for %s",
                          doc.kind, doc.id, self.retention_days, doc.index)
                self.stats.skipped(doc.kind, "older_than_retention")
                continue
            out.append(placed)
        return out
