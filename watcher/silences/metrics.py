"""The silences' series, registered on the daemon's registry (`Metrics.registry`): the stores'
refused reads and writes, unreadable stored silences, the snapshot's size, and API answers.
Labels are bounded: the store kind, a fixed operation, an HTTP status class."""
from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, Counter, Gauge

log = logging.getLogger("kea.metrics")


class SilenceMetrics:
    """`watcher.silences.store.SilenceStats` on the `kea_silences_*` series."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.errors = Counter("kea_silences_store_errors_total", "Silence store reads/writes that failed (the last "
                              "snapshot stays in use)", ["store", "operation"], registry=r)
        self.invalid_total = Counter("kea_silences_invalid_total", "Stored silences that could not be read (skipped)",
                                     ["store"], registry=r)
        self.active = Gauge("kea_silences_active", "Silences active at the last snapshot", registry=r)
        self.kept = Gauge("kea_silences_kept", "Silences kept (active, pending, recently expired)", registry=r)
        self.api_requests = Counter("kea_silences_api_requests_total", "Silences API and link requests by answer",
                                    ["route", "code"], registry=r)

    def store_error(self, store: str, operation: str) -> None:
        self.errors.labels(store, operation).inc()

    def invalid(self, store: str) -> None:
        self.invalid_total.labels(store).inc()

    def snapshot(self, store: str, active: int, total: int) -> None:
        self.active.set(active)
        self.kept.set(total)

    def request(self, route: str, code: int) -> None:
        self.api_requests.labels(route, str(code)).inc()
