"""What the Kubernetes side reports, as typed calls instead of `(name, value, labels)` strings.

The package owns the shape of its measurements (as each package of Alertmanager owns its
metrics struct); `watcher.metrics` implements these protocols on Prometheus series, and the
`NO_*` objects ignore everything, for tests and standalone use. A misspelt report is then a type
error (and an AttributeError at run time), not a silent "unknown" counter. Label values are
bounded: resource names from `resources`, reasons from the fixed sets named below.
"""
from __future__ import annotations

from typing import Protocol


class WatchStats(Protocol):
    """One watcher's life: events, restarts, relists and the objects it could not read."""

    def event(self, resource: str, watch_type: str) -> None:
        """A watch event received; `watch_type` ADDED / MODIFIED / DELETED / BOOKMARK (or
        whatever else the server sent, cut to 16 characters)."""

    def reconnect(self, resource: str, reason: str) -> None:
        """A failed list/watch, retried after backoff; reason `connection`, `timeout`,
        `protocol`, `tls`, `torn`, `bad_json`, `throttled` (429), `http_<code>`,
        `stream_error_<code>`, `not_found`, `internal_error`."""

    def relist(self, resource: str, reason: str) -> None:
        """The watcher will list again; reason `expired` (410 Gone), `empty_stream` (200 with
        an empty body), `repeated_errors`."""

    def skipped(self, reason: str) -> None:
        """An object not passed on: the normaliser's reason, or `no_uid`, `bad_watch_type`,
        `normalize_error`."""

    def last_event(self, resource: str, unix_time: float) -> None:
        """Wall-clock time of the last list or event."""


class LeaseStats(Protocol):
    """The leader election's one observable."""

    def leader(self, held: bool) -> None:
        """This replica holds the Lease (True) or does not (False)."""


class NoWatchStats:
    """Ignores every report; subclass it to keep only the reports you want."""

    def event(self, resource: str, watch_type: str) -> None:
        pass

    def reconnect(self, resource: str, reason: str) -> None:
        pass

    def relist(self, resource: str, reason: str) -> None:
        pass

    def skipped(self, reason: str) -> None:
        pass

    def last_event(self, resource: str, unix_time: float) -> None:
        pass


class NoLeaseStats:
    """Ignores every report."""

    def leader(self, held: bool) -> None:
        pass


NO_WATCH_STATS: WatchStats = NoWatchStats()
NO_LEASE_STATS: LeaseStats = NoLeaseStats()
