"""The checkpoint: until when this cluster was known to be watched, and the incidents open then.

It is the boundary between history and news across restarts (see `rules.engine`): what happened
after it while nobody watched is news and alerts once; what was already announced is restored
and not repeated, and still resolves out loud. Without any checkpoint (first start) the process
start is the boundary.

Kept as one JSON file in `data_dir` (temp file, fsync, rename: a kill -9 leaves the old or the new
one whole), written by every replica as it goes, and — when Elasticsearch is enabled — by the
leader as one document in `<prefix>-state`, so a replica that starts on a new node with an
empty `data_dir` finds it too. On start the newer of the two wins.

`watched_until` is stamped `MARGIN` before the moment it was written: object times come from
other clocks (the kubelet's finishedAt reaches the apiserver seconds later), so whatever
happened in the last moments before a crash is judged again after it; the deterministic alert
ids and the outbox's confirmed log turn a repeat into a no-op.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Optional, Protocol

import orjson

from watcher.files import write_atomically

log = logging.getLogger("kea.checkpoint")

MARGIN = timedelta(seconds=60)
VERSION = 1


@dataclass(frozen=True)
class Checkpoint:
    watched_until: datetime
    snapshot: dict[str, Any] = field(default_factory=dict)
    """`Engine.snapshot()` as of `watched_until + MARGIN`."""
    cluster: str = ""
    complete: bool = False
    """The snapshot covers the whole cluster (the run that wrote it had finished its first
    LIST): a condition it does not hold began later, and is news."""

    def to_json(self) -> bytes:
        return orjson.dumps({"v": VERSION, "cluster": self.cluster, "watched_until": self.watched_until.isoformat(),
                             "complete": self.complete, "snapshot": self.snapshot})

    @classmethod
    def from_json(cls, data: bytes | str | dict) -> "Checkpoint":
        doc = data if isinstance(data, dict) else orjson.loads(data)
        until = datetime.fromisoformat(doc["watched_until"])
        if until.tzinfo is None:
            raise ValueError("watched_until has no time zone")
        snapshot = doc.get("snapshot") or {}
        if not isinstance(snapshot, dict):
            raise ValueError("snapshot is not an object")
        return cls(until, snapshot, str(doc.get("cluster") or ""), bool(doc.get("complete")))


class LocalCheckpoints:
    """`<data_dir>/checkpoint.json`."""

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.path = Path(data_dir) / "checkpoint.json"

    def load(self, cluster: str) -> Optional[Checkpoint]:
        try:
            cp = Checkpoint.from_json(self.path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.error("checkpoint %s unreadable (%s): starting as if never watched", self.path, exc)
            return None
        if cp.cluster and cp.cluster != cluster:
            log.warning("checkpoint %s is of cluster %r, not %r: ignored", self.path, cp.cluster, cluster)
            return None
        return cp

    def save(self, cp: Checkpoint) -> None:
        write_atomically(self.path, cp.to_json())



def newest(*found: Optional[Checkpoint]) -> Optional[Checkpoint]:
    present = [c for c in found if c is not None]
    return max(present, key=lambda c: c.watched_until) if present else None


class CheckpointStore(Protocol):
    def save(self, cp: Checkpoint) -> None: ...


class Checkpointer:
    """Saves the engine's snapshot and the watched-until time as the pipeline goes (called on the
    pipeline thread): before alert changes are handed on (`save`), and every `every` seconds
    (`maybe_save`) so the boundary keeps up. `watched_until`
    advances only while `watching()` (every watcher listed and streaming): while the apiserver
    is out of reach nothing is known to be watched, and what comes later is news."""

    def __init__(self, local: CheckpointStore, *, cluster: str, boundary: datetime, complete: bool = False,
                 watching: Callable[[], bool], remote: Optional[CheckpointStore] = None,
                 is_leader: Callable[[], bool] = lambda: True, every: float = 5.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.local, self.remote, self.cluster = local, remote, cluster
        self.watched_until = boundary
        self.complete = complete
        """Inherited from the checkpoint this run started from, until its own first LIST ends."""
        self.watching, self.is_leader = watching, is_leader
        self.every, self.monotonic = every, monotonic
        self._last = float("-inf")
        self.failures = 0

    def maybe_save(self, engine: Any, now: datetime, *, idle: bool) -> None:
        """The periodic save; `idle`: the pipeline's queue is empty (saving waits for that while
        records stream in, but never longer than twice `every`)."""
        waited = self.monotonic() - self._last
        if waited >= 2 * self.every or (idle and waited >= self.every):
            self.save(engine, now)

    def save(self, engine: Any, now: datetime) -> None:
        if self.watching():
            self.watched_until = max(self.watched_until, now - MARGIN)
            self.complete = True
        cp = Checkpoint(self.watched_until, engine.snapshot(), self.cluster, self.complete)
        self._last = self.monotonic()
        try:
            self.local.save(cp)
            self.failures = 0
        except OSError as exc:
            self.failures += 1
            log.error("could not save the checkpoint (%s): a restart now would judge from an older one", exc)
        if self.remote is not None and self.is_leader():
            self.remote.save(cp)
