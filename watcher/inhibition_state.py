"""The inhibitor's sources, kept in `<data_dir>/inhibition.json` so that a restart does not
forget them: an OOM held for its look-ahead is judged after the restart against the
endpoints-unhealthy alert that fired before it, and a NotReady node keeps inhibiting its pods'
alerts for its window. The engine does not announce those sources again (they are restored
from the checkpoint as already announced), so nothing else would bring them back.

Written (temp file, fsync, rename, as the checkpoint) whenever the state changed, by the
thread that changed it: on submit that is before the outbox holds the alert's entries, so a
target entry never outlives on disk the source it is judged against. A file that cannot be
written is logged and counted (`save_failures`, kea_inhibition_state_save_failures_total); one
that cannot be read is logged and the daemon starts with no sources (as before this file).
"""
from __future__ import annotations

import logging
import os
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Sequence

import orjson

from notifiers.inhibition import Inhibitor, InhibitRule
from rules.alert import Alert
from watcher.files import write_atomically

log = logging.getLogger("kea.inhibition")


class InhibitionFile:
    """`<data_dir>/inhibition.json`."""

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.path = Path(data_dir) / "inhibition.json"

    def load(self) -> Any:
        """The saved state, or None (none saved yet, or unreadable: logged)."""
        try:
            return orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.error("inhibition state %s unreadable (%s): starting with no inhibiting alerts", self.path, exc)
            return None

    def save(self, state: dict[str, Any]) -> None:
        write_atomically(self.path, orjson.dumps(state))


class DurableInhibitor:
    """An `Inhibitor` whose state is saved whenever it changes. One call at a time (its own
    lock): the dispatcher's threads judge through it while a reload may replace its rules."""

    def __init__(self, inhibitor: Inhibitor, store: InhibitionFile | None) -> None:
        """`store` None: nothing is saved (a replay, which reads and writes no state)."""
        self.inner, self.store = inhibitor, store
        self._lock = threading.RLock()
        self._saved = inhibitor.changes
        self.save_failures = 0

    @property
    def forgotten(self) -> int:
        return self.inner.forgotten

    def observe(self, alert: Alert) -> None:
        with self._lock:
            self.inner.observe(alert)
            self._save_if_changed()

    def look_ahead(self, alert: Alert) -> timedelta:
        with self._lock:
            return self.inner.look_ahead(alert)

    def inhibitor_of(self, alert: Alert, now: datetime) -> Alert | None:
        with self._lock:
            return self.inner.inhibitor_of(alert, now)

    def inhibited_count(self, source: Alert) -> int:
        with self._lock:
            return self.inner.inhibited_count(source)

    def note(self, source: Alert, target: Alert) -> None:
        with self._lock:
            self.inner.note(source, target)
            self._save_if_changed()

    def replace_rules(self, rules: Sequence[InhibitRule]) -> None:
        with self._lock:
            self.inner.replace_rules(rules)
            self._save_if_changed()

    def stats(self) -> dict[str, int]:
        """What /metrics shows (watcher/metrics.py `inhibition_from`)."""
        with self._lock:
            return {"sources": self.inner.held(), "forgotten": self.inner.forgotten,
                    "save_failures": self.save_failures}

    def _save_if_changed(self) -> None:
        if self.inner.changes == self._saved or self.store is None:
            return
        try:
            self.store.save(self.inner.state())
        except OSError as exc:
            self.save_failures += 1
            log.error("could not save the inhibition state to %s (%s): a restart now would forget "
                      "the alerts that inhibit others", self.store.path, exc)
            return
        self._saved = self.inner.changes


def durable_inhibitor(inhibitor: Inhibitor, data_dir: str | os.PathLike[str] | None) -> DurableInhibitor:
    """`inhibitor` with the sources saved in `data_dir` restored into it (before the dispatcher
    starts judging), saving from now on. `data_dir` None (a replay: its recordings are news,
    as with the checkpoint): neither read nor written."""
    if data_dir is None:
        return DurableInhibitor(inhibitor, None)
    store = InhibitionFile(data_dir)
    saved = store.load()
    if saved is not None:
        try:
            restored = inhibitor.restore(saved)
            log.info("inhibition: %d inhibiting alerts restored from %s", restored, store.path)
        except ValueError as exc:
            log.error("inhibition state %s not restored (%s): starting with no inhibiting alerts", store.path, exc)
    return DurableInhibitor(inhibitor, store)
