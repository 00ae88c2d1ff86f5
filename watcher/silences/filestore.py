"""Silences in `<data_dir>/silences.json`, for a daemon without Elasticsearch.

The CLI may write the file while the daemon runs (`silence add -c config.yaml`), so every write
is read-modify-write under an exclusive `flock` on a lock file beside it (the data file itself
is replaced on each write, so it cannot carry the lock), and lands whole: temp file, fsync,
rename, fsync of the directory — a kill -9 leaves the old or the new file, never half of one.
The daemon notices another writer by the file's identity (inode, size, mtime) changing and
re-reads it; a file it cannot read keeps the last good snapshot (counted and logged).
"""
from __future__ import annotations

import builtins
import contextlib
import fcntl
import json
import logging
import os
import threading
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterable, Iterator

from notifiers.clock import utcnow
from notifiers.silences import Silence, Silences
from watcher.files import write_atomically

from .store import (NO_STATS, SilenceExists, SilenceStats, StoreError, UnknownSilence, kept, ordered, parse_silences,
                    report_snapshot)

log = logging.getLogger("kea.silences")

FILE_NAME = "silences.json"
VERSION = 1
_NAME = "file"


class FileSilenceStore:
    name = _NAME

    def __init__(self, data_dir: str | os.PathLike[str], *, stats: SilenceStats = NO_STATS,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.path = Path(data_dir) / FILE_NAME
        self._lock_path = self.path.with_name(FILE_NAME + ".lock")
        self.stats, self.clock = stats, clock
        self._mutex = threading.Lock()  # flock is per open file: threads of one process need this too
        self._seen: tuple[int, int, int] | None = None
        self._snapshot = Silences()
        self._failing = False

    # -- reads --------------------------------------------------------------------------------

    def list(self) -> list[Silence]:
        try:
            return ordered(kept(self._read(), self.clock()))
        except (OSError, ValueError) as exc:
            self.stats.store_error(_NAME, "read")
            raise StoreError(f"silences file {self.path} cannot be read: {exc}") from None

    def snapshot(self) -> Silences:
        try:
            identity = _identity(self.path)
            if identity != self._seen:
                silences = self._read()
                self._snapshot, self._seen = Silences(kept(silences, self.clock())), identity
                report_snapshot(self._snapshot, store=_NAME, stats=self.stats, now=self.clock())
            if self._failing:
                log.info("silences file %s is readable again", self.path)
                self._failing = False
        except (OSError, ValueError) as exc:
            self.stats.store_error(_NAME, "read")
            if not self._failing:  # once per outage, not at every due entry
                log.error("silences file %s cannot be read (%s); keeping the %d silences read before",
                          self.path, exc, len(self._snapshot))
                self._failing = True
        return self._snapshot

    def _read(self) -> builtins.list[Silence]:
        return read_silences(self.path, store=_NAME, stats=self.stats)

    # -- writes -------------------------------------------------------------------------------

    def add(self, silence: Silence) -> None:
        with self._locked() as silences:
            if any(s.id == silence.id for s in silences):
                raise SilenceExists(f"a silence with id {silence.id} exists already")
            silences.append(silence)

    def expire(self, silence_id: str, now: datetime) -> Silence:
        with self._locked() as silences:
            for i, s in enumerate(silences):
                if s.id == silence_id:
                    silences[i] = s.expired(now)
                    return silences[i]
        raise UnknownSilence(silence_id)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[builtins.list[Silence]]:
        """The stored silences to change in place, written back (purged of the long expired)
        when the block ends without an exception, all under the lock."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._mutex, open(self._lock_path, "a") as lock:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
                silences = self._read()
                yield silences
                write_silences(self.path, kept(silences, self.clock()))
        except (OSError, ValueError) as exc:
            self.stats.store_error(_NAME, "write")
            raise StoreError(f"silences file {self.path} cannot be written: {exc}") from None

    def close(self) -> None:
        pass


def write_silences(path: Path, silences: Iterable[Silence]) -> None:
    """The whole file at once: temp file, fsync, rename, fsync of the directory."""
    data = json.dumps({"v": VERSION, "silences": [s.to_dict() for s in ordered(silences)]},
                      ensure_ascii=False, indent=1)
    write_atomically(path, (data + "\n").encode("utf-8"))


def read_silences(path: Path, *, store: str, stats: SilenceStats) -> list[Silence]:
    """What `write_silences` wrote ([] when there is no file); OSError / ValueError if unreadable."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    doc = json.loads(text)
    if not isinstance(doc, dict) or not isinstance(doc.get("silences"), list):
        raise ValueError('expected {"v": 1, "silences": [...]}')
    return parse_silences(doc["silences"], store=store, stats=stats)


def _identity(path: Path) -> tuple[int, int, int] | None:
    """What changes whenever the file is replaced or rewritten; None when there is none."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns
