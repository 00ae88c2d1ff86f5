"""What the SQLite history reports, as a typed protocol that `watcher.metrics.Metrics` implements
(`history_stats`), with a no-op for tests and standalone use."""
from __future__ import annotations

from typing import Protocol


class HistoryStats(Protocol):
    def docs(self, index_kind: str, result: str, count: int) -> None:
        """Documents stored (`result` "stored") or already held ("duplicate")."""

    def dropped(self, reason: str, count: int) -> None:
        """Documents dropped: size_cap, queue_full, older_than_retention, invalid_record, shutdown."""

    def write_error(self) -> None:
        """A batch the disk refused (kept and retried)."""

    def used_bytes(self, value: int) -> None:
        """Bytes the documents occupy."""


class NoHistoryStats:
    def docs(self, index_kind: str, result: str, count: int) -> None:
        pass

    def dropped(self, reason: str, count: int) -> None:
        pass

    def write_error(self) -> None:
        pass

    def used_bytes(self, value: int) -> None:
        pass


NO_HISTORY_STATS = NoHistoryStats()
