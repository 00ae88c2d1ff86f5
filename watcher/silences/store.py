"""Where silences live: one small protocol, two stores behind it (a JSON file in `data_dir`, an
Elasticsearch index when that is enabled), and what both share.

The notify stage asks `snapshot()` for an immutable `notifiers.silences.Silences` at every due
entry, so it must be cheap and must never raise: a store that cannot be read keeps serving the
last good snapshot (counted and logged). Writes (`add`, `expire`) come from the HTTP API, the
one-click link and the CLI; they raise `StoreError` when the store refuses, so the caller can
answer the person who asked. An expired silence is kept, listed as expired, for `RETENTION`,
then purged on a later write or refresh.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Iterable, Protocol

from notifiers.silences import Silence, Silences

log = logging.getLogger("kea.silences")

RETENTION = timedelta(days=5)
"""How long an expired silence is still listed (`silence list --expired`) before it is purged."""


class StoreError(RuntimeError):
    """The store refused or could not be reached; the message names the store, never a secret."""


class SilenceExists(StoreError):
    """A silence with this id is stored already (another replica may have made it first)."""


class UnknownSilence(LookupError):
    """No silence with this id."""


class SilenceStats(Protocol):
    """What the stores and the API report; `watcher.silences.metrics` implements it."""

    def store_error(self, store: str, operation: str) -> None:
        """A read or write the store could not do (`read`, `write`, `purge`)."""

    def invalid(self, store: str) -> None:
        """A stored silence that could not be read (skipped, logged)."""

    def snapshot(self, store: str, active: int, total: int) -> None:
        """The silences of the newest snapshot: active now, and all kept."""


class _NoStats:
    def store_error(self, store: str, operation: str) -> None:
        pass

    def invalid(self, store: str) -> None:
        pass

    def snapshot(self, store: str, active: int, total: int) -> None:
        pass


NO_STATS: SilenceStats = _NoStats()


class SilenceStore(Protocol):
    name: str
    """`file` or `elasticsearch`: for logs, metrics and messages."""

    def list(self) -> list[Silence]:
        """Every kept silence (active, pending, expired within RETENTION), read from the store
        now; raises StoreError when it cannot be read."""

    def add(self, silence: Silence) -> None:
        """Store a new silence; raises StoreError."""

    def expire(self, silence_id: str, now: datetime) -> Silence:
        """End the silence now and return it; raises UnknownSilence, StoreError."""

    def snapshot(self) -> Silences:
        """The silences as last read, refreshed when the store changed; never raises."""

    def close(self) -> None: ...


def parse_silences(raw: Iterable[Any], *, store: str, stats: SilenceStats) -> list[Silence]:
    """The silences in stored documents; one that cannot be read is skipped, counted and logged
    (the others still hold)."""
    out = []
    for doc in raw:
        try:
            out.append(Silence.from_dict(doc))
        except ValueError as exc:
            stats.invalid(store)
            ident = doc.get("id") if isinstance(doc, dict) else None
            log.error("silence %r in the %s store cannot be read, skipped: %s", ident, store, exc)
    return out


def kept(silences: Iterable[Silence], now: datetime) -> list[Silence]:
    """The silences still worth keeping: not ended more than RETENTION ago."""
    return [s for s in silences if s.ends_at > now - RETENTION]


def report_snapshot(snapshot: Silences, *, store: str, stats: SilenceStats, now: datetime) -> None:
    stats.snapshot(store, sum(1 for s in snapshot if s.active(now)), len(snapshot))


def ordered(silences: Iterable[Silence]) -> list[Silence]:
    """Oldest first, as `silence list` shows them (ties by id: the same order everywhere)."""
    return sorted(silences, key=lambda s: (s.created_at, s.id))
