"""Record sources other than the live cluster: recordings, for the demo and soak runs."""
from __future__ import annotations

import logging
import threading
from typing import Callable, Sequence

from rules.model import Record
from watcher.normalize import MalformedObject, normalize
from watcher.recording import RecordingError, read_recording

log = logging.getLogger("kea.sources")


class ReplaySource:
    """Feeds recordings into the pipeline as if they were watch events (timestamps are the
    records' own; the pipeline's clock is the wall clock)."""

    def __init__(self, files: Sequence[str], *, cluster: str, sink: Callable[[Record], None],
                 stop: threading.Event, on_skip: Callable[[str], None] = lambda reason: None) -> None:
        self.files, self.cluster, self.sink, self.stop, self.on_skip = files, cluster, sink, stop, on_skip
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="replay-source", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        for path in self.files:
            for item in read_recording(path):
                if self.stop.is_set():
                    return
                if isinstance(item, RecordingError):
                    log.warning("%s: %s", item.where, item.message)
                    self.on_skip(item.reason)
                    continue
                if item.watch_type == "ERROR":
                    log.warning("%s: watch ERROR in recording; skipped", item.where)
                    self.on_skip("watch_error")
                    continue
                if item.watch_type not in ("ADDED", "MODIFIED", "DELETED"):
                    continue  # BOOKMARK: a resourceVersion, no change
                try:
                    self.sink(normalize(item.watch_type, item.obj, cluster=self.cluster))
                except MalformedObject as exc:
                    log.warning("%s: skipped: %s", item.where, exc)
                    self.on_skip(exc.reason)
        self.done.set()
