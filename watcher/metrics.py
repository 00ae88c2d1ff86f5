"""Prometheus metrics: one registry, every series the daemon exports, and the adapter that
turns components' `on_stat(name, value, labels)` reports into them.

Components (watchers, Elasticsearch sink, notifiers) do not import prometheus_client: they
report through a callback, so they stay testable and the metric names live in one place.
Label values are bounded by construction: resource kinds, rule and notifier names from the
config, platform error codes, skip reasons from a fixed set. Never an object name, never a
secret.
"""
from __future__ import annotations

import logging
import time
from typing import Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

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
        self.unknown_stats = Counter("kea_unknown_stats_total", "Reports with a name this build does not export", ["name"], registry=r)
        Info("kea_build", "Build information", registry=r).info({"version": version})
        self._since_last: dict[str, Callable[[], float | None]] = {}
        self._match_counts: list[Callable[[], Mapping[str, int]]] = []
        r.register(_SinceLastEvent(self._since_last))
        r.register(_RuleMatches(self._match_counts))
        self._stats: dict[str, Callable[[float, Mapping[str, str]], None]] = {
            "watch_events": lambda v, l: self.watch_events.labels(l.get("resource", ""), l.get("type", "")).inc(v),
            "records_skipped": lambda v, l: self.records_skipped.labels(l.get("reason", "unknown")).inc(v),
            "watch_reconnects": lambda v, l: self.watch_reconnects.labels(l.get("resource", ""), l.get("reason", "")).inc(v),
            "watch_relists": lambda v, l: self.watch_relists.labels(l.get("resource", ""), l.get("reason", "")).inc(v),
            "watch_last_event_timestamp": lambda v, l: self.last_event.labels(l.get("resource", "")).set(v),
            "docs_indexed": lambda v, l: self.es_docs.labels(l.get("index_kind", "")).inc(v),
            "docs_rejected": lambda v, l: self.es_rejected.labels(l.get("index_kind", ""), l.get("reason", "")).inc(v),
            "docs_duplicate": lambda v, l: self.es_duplicates.labels(l.get("index_kind", "")).inc(v),
            "bulk_seconds": lambda v, l: self.es_bulk_seconds.observe(v),
            "spool_bytes": lambda v, l: self.es_spool_bytes.set(v),
            "spool_dropped": lambda v, l: self.es_spool_dropped.labels(l.get("reason", "spool_full")).inc(v),
            "es_up": lambda v, l: self.es_up.set(v),
            "docs_spooled": lambda v, l: self.es_spooled.inc(v),
            "docs_invalid": lambda v, l: self.es_invalid.labels(l.get("kind", "")).inc(v),
            "docs_skipped": lambda v, l: self.es_skipped.labels(l.get("index_kind", ""), l.get("reason", "")).inc(v),
            "bulk_errors": lambda v, l: self.es_bulk_errors.labels(l.get("reason", "")).inc(v),
            "spool_corrupt": lambda v, l: self.es_spool_corrupt.inc(v),
            "leader": lambda v, l: self.leader.set(v),
            "history_docs": lambda v, l: self.history_docs.labels(l.get("index_kind", ""), l.get("result", "")).inc(v),
            "history_dropped": lambda v, l: self.history_dropped.labels(l.get("reason", "")).inc(v),
            "history_write_errors": lambda v, l: self.history_write_errors.inc(v),
            "history_bytes": lambda v, l: self.history_bytes.set(v),
            "outbox_pending": lambda v, l: self.outbox_pending.set(v),
        }

    def on_stat(self, name: str, value: float, labels: Mapping[str, str] | None = None) -> None:
        """The callback handed to components. Never raises: metrics must not break the daemon."""
        handler = self._stats.get(name)
        try:
            if handler is None:
                self.unknown_stats.labels(name[:60]).inc()
                return
            handler(value, labels or {})
        except Exception:  # a bad label set must not take a watcher down
            log.exception("metric %s could not be recorded", name)

    def watch_age(self, resource: str, last_monotonic: Callable[[], float | None]) -> None:
        """Export seconds since a watcher's last event (computed at scrape time)."""
        self._since_last[resource] = last_monotonic

    def rule_matches_from(self, counts: Callable[[], Mapping[str, int]]) -> None:
        """Export the engine's per-rule match counts (read at scrape time; the engine keeps
        plain ints so the pure rules package needs no metrics library)."""
        self._match_counts[:] = [counts]

    def record_alert(self, rule: str, status: str) -> None:
        self.alerts.labels(rule, status).inc()

    def record_delivery(self, notifier: str, platform: str, result: str, code: str = "") -> None:
        self.notifications.labels(notifier, platform, result).inc()
        if result == "failed":
            self.notification_errors.labels(notifier, platform, code or "unknown").inc()


class _SinceLastEvent:
    def __init__(self, sources: Mapping[str, Callable[[], float | None]]) -> None:
        self.sources = sources

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return []

    def collect(self) -> Iterable[GaugeMetricFamily]:
        g = GaugeMetricFamily("kea_watch_seconds_since_last_event", "Seconds since each watcher last saw an event",
                              labels=["resource"])
        now = time.monotonic()
        for resource, last in self.sources.items():
            value = last()
            if value is not None:
                g.add_metric([resource], max(0.0, now - value))
        yield g


class _RuleMatches:
    def __init__(self, sources: list) -> None:
        self.sources = sources

    def describe(self) -> Iterable[CounterMetricFamily]:
        return []

    def collect(self) -> Iterable[CounterMetricFamily]:
        c = CounterMetricFamily("kea_rule_matches", "Records that matched a rule", labels=["rule"])
        for counts in self.sources:
            for rule, n in dict(counts()).items():
                c.add_metric([rule], n)
        yield c
