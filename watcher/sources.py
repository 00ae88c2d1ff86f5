"""Record sources other than the live cluster: recordings, for the demo and soak runs.

A replay judges time by the records, not by the wall clock: `for: 30s` between two records
half a minute apart must fire even though the file is read in milliseconds. `ReplaySource`
moves a `ReplayClock` (the pipeline's clock in `run --replay`) to each newer record time, and
before it does, waits until the pipeline has processed what it queued, so the engine never
judges a record by a time later than the records still to come.
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Callable, Optional, Sequence

from notifiers.clock import utcnow
from rules.model import Record
from watcher.normalize import MalformedObject, normalize
from watcher.recording import RecordingError, WatchItem, read_recording

log = logging.getLogger("kea.sources")

#: Records without a time that come before the first timed one wait for it (a clock has to
#: start somewhere); past this many, the clock starts from the wall clock instead.
MAX_HELD_UNTIMED = 10_000
#: What the clock reads before any record has a time: earlier than any recording.
_NOT_STARTED = datetime(1970, 1, 1, tzinfo=timezone.utc)


class ReplayClock:
    """The newest record time fed so far; once the recordings are done, plus the wall time
    since (so timers after the last record still fire). Read by the pipeline thread, moved
    by the replay thread: the state is one tuple, swapped whole."""

    def __init__(self) -> None:
        self._state: tuple[Optional[datetime], Optional[float]] = (None, None)
        self.last_read = time.monotonic()
        """Monotonic time of the last reading: the pipeline reads it every loop, so this is its
        heartbeat (record times say nothing about whether the process is alive)."""

    def __call__(self) -> datetime:
        self.last_read = time.monotonic()
        base, free_since = self._state
        if base is None:
            return _NOT_STARTED
        return base if free_since is None else base + timedelta(seconds=time.monotonic() - free_since)

    @property
    def started(self) -> bool:
        return self._state[0] is not None

    def moves_for(self, when: datetime) -> bool:
        base = self._state[0]
        return base is None or when > base

    def advance(self, when: datetime) -> None:
        base, free_since = self._state
        if base is None or when > base:
            self._state = (when, None if free_since is None else time.monotonic())

    def run_free(self) -> None:
        """The recordings are done: from now on time passes with the wall clock."""
        base = self._state[0]
        self._state = (base or utcnow(), time.monotonic())


class ReplaySource:
    """Feeds recordings into the pipeline as if they were watch events. With a `clock` (and the
    pipeline's `drain`), record times drive the pipeline's clock; without, the pipeline keeps
    its own."""

    def __init__(self, files: Sequence[str], *, cluster: str, sink: Callable[[Record], None],
                 stop: threading.Event, on_skip: Callable[[str], None] = lambda reason: None,
                 clock: Optional[ReplayClock] = None, drain: Callable[[float], bool] = lambda timeout: True) -> None:
        self.files, self.cluster, self.sink, self.stop, self.on_skip = files, cluster, sink, stop, on_skip
        self.clock, self.drain = clock, drain
        self.done = threading.Event()
        """Set when the reader has stopped: every file fed, or stopped early."""
        self._held: list[Record] = []
        self._thread = threading.Thread(target=self._run, name="replay-source", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        try:
            for path in self.files:
                if not self._feed(path):
                    return
            self._release_held()
        except Exception:  # a reader bug must not pass for the end of the recordings
            log.exception("replay stopped early: the rest of the recordings is not fed")
            self.on_skip("replay_failed")
        finally:
            if self.clock is not None:
                self.clock.run_free()
            self.done.set()

    def _feed(self, path: str) -> bool:
        """Feed one file; False when asked to stop."""
        untimed = 0
        for item in read_recording(path):
            if self.stop.is_set():
                return False
            record = self._record(item)
            if record is None:
                continue
            if record.timestamp is None:
                untimed += 1
            self._put(record)
        if untimed:
            log.warning("%s: %d records had no time; the replay clock did not move for them", path, untimed)
        return True

    def _record(self, item: RecordingError | WatchItem) -> Optional[Record]:
        if isinstance(item, RecordingError):
            log.warning("%s: %s", item.where, item.message)
            self.on_skip(item.reason)
            return None
        if item.watch_type == "ERROR":
            log.warning("%s: watch ERROR in recording; skipped", item.where)
            self.on_skip("watch_error")
            return None
        if item.watch_type not in ("ADDED", "MODIFIED", "DELETED"):
            return None  # BOOKMARK: a resourceVersion, no change
        try:
            return normalize(item.watch_type, item.obj, cluster=self.cluster)
        except MalformedObject as exc:
            log.warning("%s: skipped: %s", item.where, exc)
            self.on_skip(exc.reason)
            return None

    def _put(self, record: Record) -> None:
        clock, when = self.clock, record.timestamp
        if clock is not None:
            if when is None and not clock.started and len(self._held) < MAX_HELD_UNTIMED:
                self._held.append(record)
                return
            if when is not None and clock.moves_for(when):
                self._settle()
                clock.advance(when)
            self._release_held()
        self.sink(record)

    def _settle(self) -> None:
        """Wait until the pipeline has processed what was queued (under the current time)."""
        while not self.drain(1.0) and not self.stop.is_set():
            pass

    def _release_held(self) -> None:
        if self._held and self.clock is not None and not self.clock.started:
            self.clock.advance(utcnow())  # no record had a time to start from
        held, self._held = self._held, []
        for record in held:
            self.sink(record)
