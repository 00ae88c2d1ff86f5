"""Shared test helpers for tests/kube: waiting on conditions, collecting stats, records and
alerts, and a whole in-process daemon stack (watchers → pipeline → router) per replica."""
from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Optional

from rules.alert import Alert
from rules.model import Record
from tests.harness.kube import wait_until  # noqa: F401  (one wait for the harness and these tests)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Stats:
    """A `WatchStats` and `LeaseStats` (watcher.kube.stats) that remembers every report as
    (name of the series it moves, value, labels): `watch_relists`, `leader`, ..."""

    def __init__(self) -> None:
        self.reports: list[tuple[str, float, dict]] = []
        self._lock = threading.Lock()

    def event(self, resource: str, watch_type: str) -> None:
        self._report("watch_events", 1, resource=resource, type=watch_type)

    def reconnect(self, resource: str, reason: str) -> None:
        self._report("watch_reconnects", 1, resource=resource, reason=reason)

    def relist(self, resource: str, reason: str) -> None:
        self._report("watch_relists", 1, resource=resource, reason=reason)

    def skipped(self, reason: str) -> None:
        self._report("records_skipped", 1, reason=reason)

    def last_event(self, resource: str, unix_time: float) -> None:
        self._report("watch_last_event_timestamp", unix_time, resource=resource)

    def leader(self, held: bool) -> None:
        self._report("leader", 1 if held else 0)

    def _report(self, name: str, value: float, **labels: str) -> None:
        with self._lock:
            self.reports.append((name, value, labels))

    def count(self, name: str, **labels: str) -> float:
        with self._lock:
            return sum(v for n, v, l in self.reports
                       if n == name and all(l.get(k) == want for k, want in labels.items()))

    def reasons(self, name: str) -> Counter:
        with self._lock:
            return Counter(l.get("reason") for n, _, l in self.reports if n == name)


class Records:
    """A watcher sink that keeps every record (and optionally passes it on)."""

    def __init__(self, then: Optional[Callable[[Record], None]] = None) -> None:
        self.items: list[Record] = []
        self.then = then
        self._lock = threading.Lock()

    def __call__(self, record: Record) -> None:
        with self._lock:
            self.items.append(record)
        if self.then is not None:
            self.then(record)

    def __len__(self) -> int:
        return len(self.items)

    def since(self, index: int) -> list[Record]:
        with self._lock:
            return self.items[index:]

    def seen_rv(self, rv: str | int) -> bool:
        """A record at or past this resourceVersion arrived (etcd RVs are integers here;
        production code never compares them)."""
        want = int(rv)
        with self._lock:
            return any(int(r.resource_version or 0) >= want for r in self.items)

    def changes(self, start: int = 0) -> list[tuple[str, str, bool]]:
        return [(r.watch_type, r.name, r.listed) for r in self.since(start)]


class Alerts:
    """An `on_alert` / `submit` callback collecting alerts; `open=False` models a dead replica."""

    def __init__(self) -> None:
        self.items: list[Alert] = []
        self.open = True
        self._lock = threading.Lock()

    def __call__(self, alert: Alert) -> None:
        with self._lock:
            if self.open:
                self.items.append(alert)

    def __len__(self) -> int:
        return len(self.items)

    def ids(self) -> list[str]:
        with self._lock:
            return [a.id for a in self.items]

    def by(self, *, rule: Optional[str] = None, name: Optional[str] = None, status: Optional[str] = None) -> list[Alert]:
        with self._lock:
            return [a for a in self.items if (rule is None or a.rule == rule) and (name is None or a.name == name)
                    and (status is None or a.status == status)]


def all_listed(watchers: Iterable[Any], timeout: float = 30.0) -> None:
    for w in watchers:
        wait_until(w.listed.is_set, timeout, f"{w.name} to finish its initial list")
