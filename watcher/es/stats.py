"""What the Elasticsearch side reports, as typed calls instead of `(name, value, labels)` strings.

The package owns the shape of its measurements (as each package of Alertmanager owns its
metrics struct); `watcher.metrics` implements `SinkStats` on Prometheus series, and
`NO_SINK_STATS` (a `NoSinkStats`) ignores everything, for tests, benchmarks and standalone use. The sink, its
documenter, spool and bulk sender all report through the one object the sink is given.
`index_kind` is `events`, `endpoints`, `terminations` or `alerts` (`watcher.es.doc.Doc.kind`).
"""
from __future__ import annotations

from typing import Protocol


class SinkStats(Protocol):
    def indexed(self, index_kind: str, count: int) -> None:
        """Documents Elasticsearch stored (2xx)."""

    def duplicate(self, index_kind: str, count: int) -> None:
        """409: already stored (a replay) or a newer version won; a success."""

    def rejected(self, index_kind: str, reason: str) -> None:
        """One document refused for good (4xx; reason = the ES error type) and dropped."""

    def invalid(self, kind: str) -> None:
        """A record (of this kind) no document could be built from."""

    def skipped(self, index_kind: str, reason: str) -> None:
        """A document not written; reason `older_than_retention`."""

    def spooled(self, count: int) -> None:
        """Documents written to the disk spool."""

    def bulk_error(self, reason: str) -> None:
        """A bulk attempt that left documents unaccepted (reason `429`, `503`,
        `ConnectionError`, ...)."""

    def bulk_seconds(self, seconds: float) -> None:
        """The duration of one bulk attempt."""

    def spool_bytes(self, size: int) -> None:
        """Unsent bytes now in the spool."""

    def spool_dropped(self, reason: str, count: int) -> None:
        """Documents dropped, oldest first: the spool hit its bound (`spool_full`), or it cannot
        be written and memory hit `max_memory` (`spool_unwritable`)."""

    def spool_corrupt(self) -> None:
        """A damaged spool line skipped (torn by a crash)."""

    def reachable(self, up: bool) -> None:
        """Elasticsearch answers (True) or the sink is spooling (False)."""


class NoSinkStats:
    """Ignores every report; subclass it to keep only the reports you want."""

    def indexed(self, index_kind: str, count: int) -> None:
        pass

    def duplicate(self, index_kind: str, count: int) -> None:
        pass

    def rejected(self, index_kind: str, reason: str) -> None:
        pass

    def invalid(self, kind: str) -> None:
        pass

    def skipped(self, index_kind: str, reason: str) -> None:
        pass

    def spooled(self, count: int) -> None:
        pass

    def bulk_error(self, reason: str) -> None:
        pass

    def bulk_seconds(self, seconds: float) -> None:
        pass

    def spool_bytes(self, size: int) -> None:
        pass

    def spool_dropped(self, reason: str, count: int) -> None:
        pass

    def spool_corrupt(self) -> None:
        pass

    def reachable(self, up: bool) -> None:
        pass


NO_SINK_STATS: SinkStats = NoSinkStats()
