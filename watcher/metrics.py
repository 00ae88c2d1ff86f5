"""Prometheus metrics: one registry, every series the daemon exports, and the typed stats the
components report through.

Components (watchers, the Lease loop, the Elasticsearch sink) do not import prometheus_client:
each package declares what it measures as a small protocol (`watcher.kube.stats.WatchStats`,
`LeaseStats`, `watcher.es.stats.SinkStats`), and `Metrics` hands them implementations that move
its series (`watch_stats`, `lease_stats`, `sink_stats`). So the components stay testable, the
metric names live here only, and a misspelt report is a type error rather than a silent
counter. Label values are bounded by construction: resource kinds, rule and notifier names from
the config, platform error codes, skip reasons from a fixed set. Never an object name, never a
secret.
"""
from __future__ import annotations

import functools
import logging
import time
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Mapping, ParamSpec

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

if TYPE_CHECKING:  # only to check the implementations: importing the packages loads their clients
    from watcher.es.stats import SinkStats
    from watcher.kube.stats import LeaseStats, WatchStats
    from watcher.search.stats import HistoryStats

log = logging.getLogger("kea.metrics")
# `*_created` series double the output and no dashboard here uses them.
disable_created_metrics()


class Metrics:
    def __init__(self, version: str = "") -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.watch_events = Counter("kea_watch_events_total", "Watch events received", ["resource", "type"], registry=r)
        self.records_skipped = Counter("kea_records_skipped_total", "Objects skipped as malformed", ["reason"], registry=r)
        self.watch_reconnects = Counter("kea_watch_reconnects_total", "Watch reconnects", ["resource", "reason"], registry=r)
        self.watch_relists = Counter("kea_watch_relists_total", "Relists (410 Gone, empty stream)", ["resource", "reason"], registry=r)
        self.last_event = Gauge("kea_watch_last_event_timestamp_seconds", "Unix time of the last event per watcher", ["resource"], registry=r)
        self.alerts = Counter("kea_alerts_total", "Alert changes decided by the rules", ["rule", "status"], registry=r)
        self.notifications = Counter("kea_notifications_total", "Notification outcomes", ["notifier", "platform", "result"], registry=r)
        self.notification_errors = Counter("kea_notification_errors_total", "Failed deliveries by platform code", ["notifier", "platform", "code"], registry=r)
        self.outbox_pending = Gauge("kea_outbox_pending", "Notifications waiting in the outbox", registry=r)
        self.es_docs = Counter("kea_es_docs_indexed_total", "Documents acknowledged by Elasticsearch", ["index_kind"], registry=r)
        self.es_rejected = Counter("kea_es_docs_rejected_total", "Documents Elasticsearch rejected", ["index_kind", "reason"], registry=r)
        self.es_duplicates = Counter("kea_es_docs_duplicate_total", "Documents already present (409 on create)", ["index_kind"], registry=r)
        self.es_bulk_seconds = Histogram("kea_es_bulk_seconds", "Bulk request latency", registry=r,
                                         buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self.es_spool_bytes = Gauge("kea_es_spool_bytes", "Bytes spooled on disk while Elasticsearch is unreachable", registry=r)
        self.es_spool_dropped = Counter("kea_es_spool_dropped_total", "Documents dropped, oldest first: from a full spool (spool_full) or from memory while the spool cannot be written (spool_unwritable)", ["reason"], registry=r)
        self.es_spooled = Counter("kea_es_docs_spooled_total", "Documents written to the disk spool", registry=r)
        self.es_invalid = Counter("kea_es_docs_invalid_total", "Records no document could be built from", ["kind"], registry=r)
        self.es_skipped = Counter("kea_es_docs_skipped_total", "Documents not written (reason: older_than_retention)", ["index_kind", "reason"], registry=r)
        self.es_bulk_errors = Counter("kea_es_bulk_errors_total", "Bulk attempts that left documents unaccepted", ["reason"], registry=r)
        self.es_spool_corrupt = Counter("kea_es_spool_corrupt_total", "Damaged spool lines skipped (torn by a crash)", registry=r)
        self.es_up = Gauge("kea_es_up", "1 when Elasticsearch answered the last request", registry=r)
        self.history_docs = Counter("kea_local_history_docs_total", "Documents the SQLite history stored or already held", ["index_kind", "result"], registry=r)
        self.history_dropped = Counter("kea_local_history_dropped_total", "Documents the SQLite history dropped (size_cap, queue_full, older_than_retention, invalid_record, shutdown)", ["reason"], registry=r)
        self.history_write_errors = Counter("kea_local_history_write_errors_total", "SQLite history batches the disk refused (kept and retried)", registry=r)
        self.history_bytes = Gauge("kea_local_history_bytes", "Bytes the SQLite history's documents occupy", registry=r)
        self.leader = Gauge("kea_leader", "1 while this replica holds the Lease", registry=r)
        self.reloads = Counter("kea_config_reloads_total", "Rule/template reloads", ["result"], registry=r)
        self.pipeline_queue = Gauge("kea_pipeline_queue", "Records waiting for the rules engine", registry=r)
        self.pipeline_errors = Counter("kea_pipeline_errors_total",
                                       "Pipeline steps that failed on a record or a tick (each fails alone)",
                                       ["stage"], registry=r)
        Info("kea_build", "Build information", registry=r).info({"version": version})
        self._since_last: dict[str, Callable[[], float | None]] = {}
        self._match_counts: list[Callable[[], Mapping[str, int]]] = []
        self._pipeline_records: list[Callable[[], int]] = []
        self._inhibition: list[Callable[[], Mapping[str, int]]] = []
        r.register(_AtScrape(lambda: _watch_ages(self._since_last)))
        r.register(_AtScrape(lambda: _rule_matches(self._match_counts)))
        r.register(_AtScrape(lambda: _records_taken(self._pipeline_records)))
        r.register(_AtScrape(lambda: _inhibition(self._inhibition)))
        self.watch_stats: WatchStats = _WatchSeries(self)
        self.lease_stats: LeaseStats = _LeaseSeries(self)
        self.sink_stats: SinkStats = _SinkSeries(self)
        self.history_stats: HistoryStats = _HistorySeries(self)
        from watcher.silences.metrics import SilenceMetrics  # the kea_silences_* series (their package's own)

        self.silence_stats = SilenceMetrics(r)

    def watch_age(self, resource: str, last_monotonic: Callable[[], float | None]) -> None:
        """Export seconds since a watcher's last event (computed at scrape time)."""
        self._since_last[resource] = last_monotonic

    def rule_matches_from(self, counts: Callable[[], Mapping[str, int]]) -> None:
        """Export the engine's per-rule match counts (read at scrape time; the engine keeps
        plain ints so the pure rules package needs no metrics library)."""
        self._match_counts[:] = [counts]

    def pipeline_records_from(self, processed: Callable[[], int]) -> None:
        """Export the records the pipeline has taken through the state and the rules (read at
        scrape time): its rate is the daemon's throughput, e.g. while a first LIST drains."""
        self._pipeline_records[:] = [processed]

    def inhibition_from(self, stats: Callable[[], Mapping[str, int]]) -> None:
        """Export the inhibitor's `stats()` (sources, forgotten, save_failures; read at scrape
        time: the inhibitor keeps plain ints)."""
        self._inhibition[:] = [stats]

    def record_alert(self, rule: str, status: str) -> None:
        self.alerts.labels(rule, status).inc()

    def record_delivery(self, notifier: str, platform: str, result: str, code: str = "") -> None:
        self.notifications.labels(notifier, platform, result).inc()
        if result == "failed":
            self.notification_errors.labels(notifier, platform, code or "unknown").inc()


_P = ParamSpec("_P")


def _never_raises(report: Callable[_P, None]) -> Callable[_P, None]:
    """Metrics must not break the daemon: a report that cannot be recorded (a negative
    increment, a value that is not a number) is logged and the component goes on."""
    @functools.wraps(report)
    def guarded(*args: _P.args, **kwargs: _P.kwargs) -> None:
        try:
            report(*args, **kwargs)
        except Exception:
            log.exception("metric %s could not be recorded", report.__qualname__)
    return guarded


class _WatchSeries:
    """`watcher.kube.stats.WatchStats` on the `kea_watch_*` and `kea_records_skipped` series."""

    def __init__(self, m: Metrics) -> None:
        self.m = m

    @_never_raises
    def event(self, resource: str, watch_type: str) -> None:
        self.m.watch_events.labels(resource, watch_type).inc()

    @_never_raises
    def reconnect(self, resource: str, reason: str) -> None:
        self.m.watch_reconnects.labels(resource, reason).inc()

    @_never_raises
    def relist(self, resource: str, reason: str) -> None:
        self.m.watch_relists.labels(resource, reason).inc()

    @_never_raises
    def skipped(self, reason: str) -> None:
        self.m.records_skipped.labels(reason).inc()

    @_never_raises
    def last_event(self, resource: str, unix_time: float) -> None:
        self.m.last_event.labels(resource).set(unix_time)


class _LeaseSeries:
    """`watcher.kube.stats.LeaseStats` on `kea_leader`."""

    def __init__(self, m: Metrics) -> None:
        self.m = m

    @_never_raises
    def leader(self, held: bool) -> None:
        self.m.leader.set(1 if held else 0)


class _HistorySeries:
    """`watcher.search.stats.HistoryStats` on the `kea_local_history_*` series."""

    def __init__(self, m: Metrics) -> None:
        self.m = m

    @_never_raises
    def docs(self, index_kind: str, result: str, count: int) -> None:
        self.m.history_docs.labels(index_kind, result).inc(count)

    @_never_raises
    def dropped(self, reason: str, count: int) -> None:
        self.m.history_dropped.labels(reason).inc(count)

    @_never_raises
    def write_error(self) -> None:
        self.m.history_write_errors.inc()

    @_never_raises
    def used_bytes(self, value: int) -> None:
        self.m.history_bytes.set(value)


class _SinkSeries:
    """`watcher.es.stats.SinkStats` on the `kea_es_*` series."""

    def __init__(self, m: Metrics) -> None:
        self.m = m

    @_never_raises
    def indexed(self, index_kind: str, count: int) -> None:
        self.m.es_docs.labels(index_kind).inc(count)

    @_never_raises
    def duplicate(self, index_kind: str, count: int) -> None:
        self.m.es_duplicates.labels(index_kind).inc(count)

    @_never_raises
    def rejected(self, index_kind: str, reason: str) -> None:
        self.m.es_rejected.labels(index_kind, reason).inc()

    @_never_raises
    def invalid(self, kind: str) -> None:
        self.m.es_invalid.labels(kind).inc()

    @_never_raises
    def skipped(self, index_kind: str, reason: str) -> None:
        self.m.es_skipped.labels(index_kind, reason).inc()

    @_never_raises
    def spooled(self, count: int) -> None:
        self.m.es_spooled.inc(count)

    @_never_raises
    def bulk_error(self, reason: str) -> None:
        self.m.es_bulk_errors.labels(reason).inc()

    @_never_raises
    def bulk_seconds(self, seconds: float) -> None:
        self.m.es_bulk_seconds.observe(seconds)

    @_never_raises
    def spool_bytes(self, size: int) -> None:
        self.m.es_spool_bytes.set(size)

    @_never_raises
    def spool_dropped(self, reason: str, count: int) -> None:
        self.m.es_spool_dropped.labels(reason).inc(count)

    @_never_raises
    def spool_corrupt(self) -> None:
        self.m.es_spool_corrupt.inc()

    @_never_raises
    def reachable(self, up: bool) -> None:
        self.m.es_up.set(1 if up else 0)


class _AtScrape:
    """A collector whose series `families()` computes when /metrics is scraped: for values the
    daemon's parts keep as plain numbers (the pure rules package needs no metrics library)."""

    def __init__(self, families: Callable[[], Iterable[Metric]]) -> None:
        self.families = families

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        yield from self.families()


def _watch_ages(sources: Mapping[str, Callable[[], float | None]]) -> Iterator[Metric]:
    g = GaugeMetricFamily("kea_watch_seconds_since_last_event", "Seconds since each watcher last saw an event",
                          labels=["resource"])
    now = time.monotonic()
    for resource, last in sources.items():
        value = last()
        if value is not None:
            g.add_metric([resource], max(0.0, now - value))
    yield g


def _rule_matches(sources: list[Callable[[], Mapping[str, int]]]) -> Iterator[Metric]:
    c = CounterMetricFamily("kea_rule_matches", "Records that matched a rule", labels=["rule"])
    for counts in sources:
        for rule, n in dict(counts()).items():
            c.add_metric([rule], n)
    yield c


def _records_taken(sources: list[Callable[[], int]]) -> Iterator[Metric]:
    yield CounterMetricFamily("kea_pipeline_records", "Records the pipeline has taken through the cluster "
                              "state and the rules", value=sum(processed() for processed in sources))


def _inhibition(sources: list[Callable[[], Mapping[str, int]]]) -> Iterator[Metric]:
    """`kea_inhibition_*`: the sources the inhibitor holds, those it forgot over its bound
    (notifiers/inhibition.py MAX_SOURCES), and inhibition state writes that failed."""
    stats = dict(sources[0]()) if sources else {}
    yield GaugeMetricFamily("kea_inhibition_sources", "Firing alerts the inhibitor holds as sources",
                            value=stats.get("sources", 0))
    yield CounterMetricFamily("kea_inhibition_sources_forgotten", "Sources forgotten, oldest first, "
                              "over the inhibitor's bound", value=stats.get("forgotten", 0))
    yield CounterMetricFamily("kea_inhibition_state_save_failures", "Writes of data_dir/inhibition.json "
                              "that failed", value=stats.get("save_failures", 0))
