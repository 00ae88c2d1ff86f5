"""Durable outbox: what has to reach a robot survives restarts, and what did is never resent.

Layout of the directory:
  pending/<seq>-<hash>.json   one file per undelivered (notifier, alert) pair
  failed/<seq>-<hash>.json    dead letters: rejected for good (93000, 310000, ...), kept for
                              inspection and `requeue_failed()`, never resent on their own
  confirmed.log               append-only, one JSON line {"id", "t"} per confirmed entry

An entry file is written with temp file + fsync + rename (+ fsync of the directory), so a
kill -9 leaves either the whole entry or none. Confirming appends to confirmed.log and fsyncs
*before* the entry file is removed: a crash in between leaves a confirmed id next to its
entry, and loading deletes that entry instead of resending it. The confirmed log keeps ids
for `retention_seconds` (default 7 days) and at most `max_confirmed` of them; a `put` of a
confirmed, pending or dead-lettered id does nothing. That is the "never twice" guarantee
across replays and restarts. The only window left is a crash between the platform's answer
and the log append: that entry is sent again (at least once beats at most once for alerts).

Bounded: when `max_entries` are pending, the oldest are dropped to make room, and returned
so the caller counts and logs them.

Across replicas the outbox cannot know what another replica delivered; `KnownDelivered` carries
that knowledge in (entry ids from the alert history, `delivered_hash`es a leader published on
its Lease), and `recently_confirmed` is what a leader publishes.
"""
from __future__ import annotations

import base64
import hashlib
import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Literal

import orjson

from rules.alert import Alert

from .clock import WallClock, utcnow
from .redact import protect_logger, redact

log: logging.Logger = protect_logger("kea.notifiers.outbox")


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    id: str
    """`entry_id(notifier, alert)`: notifier name + alert id."""
    notifier: str
    alert: Alert
    seq: int
    """Order of arrival; the oldest are sent (and dropped) first."""
    enqueued_at: datetime


@dataclass(frozen=True, slots=True)
class PutResult:
    entry: OutboxEntry | None
    """The new entry, or None if nothing was written."""
    status: Literal["added", "pending", "confirmed", "failed"]
    dropped: tuple[OutboxEntry, ...] = ()
    """Oldest entries dropped to stay within `max_entries`."""


def entry_id(notifier: str, alert: Alert) -> str:
    return f"{notifier}|{alert.id}"


def delivered_hash(id: str) -> str:
    """A compact, fixed-size stand-in for an entry id (72 bits of SHA-256, 12 characters):
    small enough to publish thousands on a Lease annotation, collisions negligible."""
    return base64.urlsafe_b64encode(hashlib.sha256(id.encode("utf-8")).digest()[:9]).decode("ascii")


@dataclass(frozen=True, slots=True)
class KnownDelivered:
    """Entry ids another process (the previous leader) is known to have delivered: full ids
    (from the alert history) or their `delivered_hash`es (from the Lease)."""
    ids: frozenset[str] = frozenset()
    hashes: frozenset[str] = frozenset()

    def __contains__(self, id: object) -> bool:
        return isinstance(id, str) and (id in self.ids or (bool(self.hashes)
                                                           and delivered_hash(id) in self.hashes))

    def __len__(self) -> int:
        return len(self.ids) + len(self.hashes)


class Outbox:
    def __init__(self, directory: str | os.PathLike[str], *, max_entries: int = 10_000,
                 retention_seconds: float = 7 * 86400, max_confirmed: int = 100_000,
                 clock: WallClock = utcnow) -> None:
        if max_entries < 1 or max_confirmed < 1:
            raise ValueError("max_entries and max_confirmed must be >= 1")
        self.directory = Path(directory)
        self._pending_dir = self.directory / "pending"
        self._failed_dir = self.directory / "failed"
        self._log_path = self.directory / "confirmed.log"
        self._max_entries = max_entries
        self._retention = retention_seconds
        self._max_confirmed = max_confirmed
        self._clock = clock
        self._lock = threading.RLock()
        self._pending: OrderedDict[str, tuple[OutboxEntry, Path]] = OrderedDict()
        self._failed: OrderedDict[str, Path] = OrderedDict()
        self._confirmed: OrderedDict[str, float] = OrderedDict()
        self._log_lines = 0
        self._seq = 0
        self._load()

    # -- queries -------------------------------------------------------------------------------
    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)

    def __bool__(self) -> bool:
        # An empty outbox is still an outbox: `outbox or Outbox(...)` must not replace it.
        return True

    def entries(self) -> list[OutboxEntry]:
        """Pending entries, oldest first."""
        with self._lock:
            return [entry for entry, _ in self._pending.values()]

    def oldest_enqueued_at(self) -> datetime | None:
        """When the oldest pending entry was queued (None: nothing pending)."""
        with self._lock:
            for entry, _ in self._pending.values():
                return entry.enqueued_at
            return None

    def get(self, id: str) -> OutboxEntry | None:
        with self._lock:
            found = self._pending.get(id)
            return found[0] if found else None

    def is_confirmed(self, id: str) -> bool:
        with self._lock:
            return id in self._confirmed

    def recently_confirmed(self, since: datetime, limit: int) -> list[str]:
        """Ids confirmed at or after `since`, at most the `limit` newest, oldest first."""
        cutoff = since.timestamp()
        with self._lock:
            out: list[str] = []
            for id, t in reversed(self._confirmed.items()):
                if t < cutoff or len(out) >= limit:
                    break
                out.append(id)
        return out[::-1]

    def failed_ids(self) -> list[str]:
        with self._lock:
            return list(self._failed)

    # -- changes -------------------------------------------------------------------------------
    def put(self, notifier: str, alert: Alert) -> PutResult:
        """Durably add one entry (on disk when this returns), unless the id is known."""
        id = entry_id(notifier, alert)
        with self._lock:
            if id in self._confirmed:
                return PutResult(None, "confirmed")
            if id in self._pending:
                return PutResult(None, "pending")
            if id in self._failed:
                return PutResult(None, "failed")
            dropped = []
            while len(self._pending) >= self._max_entries:
                old_id, (old, path) = self._pending.popitem(last=False)
                _unlink(path)
                dropped.append(old)
            if dropped:
                _fsync_dir(self._pending_dir)
            entry = OutboxEntry(id, notifier, alert, self._next_seq(), self._clock())
            path = self._pending_dir / _file_name(entry)
            _write_atomic(path, _dump(entry))
            self._pending[id] = (entry, path)
            return PutResult(entry, "added", tuple(dropped))

    def confirm(self, ids: Iterable[str]) -> None:
        """The platform accepted these: remember them, then forget the entries."""
        ids = list(dict.fromkeys(ids))
        if not ids:
            return
        with self._lock:
            now = self._clock().timestamp()
            lines = b"".join(orjson.dumps({"id": i, "t": now}) + b"\n" for i in ids)
            with open(self._log_path, "ab") as f:
                f.write(lines)
                f.flush()
                os.fsync(f.fileno())
            self._log_lines += len(ids)
            for i in ids:
                self._confirmed.pop(i, None)
                self._confirmed[i] = now
                found = self._pending.pop(i, None)
                if found:
                    _unlink(found[1])
            _fsync_dir(self._pending_dir)
            self._expire(now)
            if self._log_lines > 2 * len(self._confirmed) + 1000:
                self._rewrite_log()

    def fail(self, ids: Iterable[str], *, code: str, detail: str = "") -> None:
        """Move entries the platform rejected for good to the dead-letter directory."""
        with self._lock:
            for i in ids:
                found = self._pending.pop(i, None)
                if not found:
                    continue
                entry, path = found
                doc = _doc(entry)
                doc["failed"] = {"code": code, "detail": redact(detail)[:500],
                                 "at": self._clock().isoformat()}
                target = self._failed_dir / path.name
                _write_atomic(target, orjson.dumps(doc, default=str))
                _unlink(path)
                self._failed[i] = target
            _fsync_dir(self._pending_dir)
            while len(self._failed) > self._max_entries:
                old_id, old_path = self._failed.popitem(last=False)
                _unlink(old_path)
                log.warning("dead-letter directory full: dropped the oldest entry %s", old_id)

    def requeue_failed(self) -> list[OutboxEntry]:
        """Move dead letters back to pending (after fixing a key, say); returns them."""
        moved = []
        with self._lock:
            for i, path in list(self._failed.items()):
                try:
                    entry = _load(path.read_bytes(), self._next_seq())
                except (OSError, ValueError, KeyError, TypeError) as e:
                    log.error("cannot requeue dead letter %s: %s", path.name, redact(e))
                    continue
                target = self._pending_dir / _file_name(entry)
                _write_atomic(target, _dump(entry))
                _unlink(path)
                del self._failed[i]
                self._pending[i] = (entry, target)
                moved.append(entry)
            _fsync_dir(self._failed_dir)
        return moved

    # -- loading -------------------------------------------------------------------------------
    def _load(self) -> None:
        for d in (self.directory, self._pending_dir, self._failed_dir):
            d.mkdir(parents=True, exist_ok=True)
            for tmp in d.glob("*.tmp"):  # a write that a crash interrupted
                _unlink(tmp)
        self._load_confirmed()
        for path in sorted(self._pending_dir.glob("*.json")):
            try:
                entry = _load(path.read_bytes())
            except (OSError, ValueError, KeyError, TypeError) as e:
                log.error("outbox entry %s unreadable (%s): moved to failed/", path.name,
                          redact(e))
                os.replace(path, self._failed_dir / (path.name + ".corrupt"))
                continue
            self._seq = max(self._seq, entry.seq)
            if entry.id in self._confirmed or entry.id in self._pending:
                _unlink(path)  # confirmed just before a crash removed it: do not resend
                continue
            self._pending[entry.id] = (entry, path)
        for path in sorted(self._failed_dir.glob("*.json")):
            try:
                doc = orjson.loads(path.read_bytes())
                self._failed[doc["id"]] = path
                self._seq = max(self._seq, int(doc["seq"]))
            except (OSError, ValueError, KeyError, TypeError):
                continue
        _fsync_dir(self._pending_dir)
        if self._pending:
            log.info("outbox %s: %d undelivered entries from before", self.directory,
                     len(self._pending))

    def _load_confirmed(self) -> None:
        try:
            data = self._log_path.read_bytes()
        except FileNotFoundError:
            return
        bad = 0
        for line in data.splitlines():
            try:
                doc = orjson.loads(line)
                self._confirmed.pop(doc["id"], None)
                self._confirmed[str(doc["id"])] = float(doc["t"])
            except (ValueError, KeyError, TypeError):
                bad += 1  # a line torn by a crash mid-append
        self._log_lines = len(data.splitlines())
        self._expire(self._clock().timestamp())
        if bad or data and not data.endswith(b"\n") or self._log_lines > len(self._confirmed):
            self._rewrite_log()

    def _expire(self, now: float) -> None:
        while self._confirmed:
            first_id, t = next(iter(self._confirmed.items()))
            if len(self._confirmed) > self._max_confirmed or t < now - self._retention:
                self._confirmed.popitem(last=False)
            else:
                break

    def _rewrite_log(self) -> None:
        data = b"".join(orjson.dumps({"id": i, "t": t}) + b"\n"
                        for i, t in self._confirmed.items())
        _write_atomic(self._log_path, data)
        self._log_lines = len(self._confirmed)

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq


def _file_name(entry: OutboxEntry) -> str:
    return f"{entry.seq:012d}-{hashlib.sha256(entry.id.encode()).hexdigest()[:20]}.json"


def _doc(entry: OutboxEntry) -> dict[str, Any]:
    return {"v": 1, "id": entry.id, "notifier": entry.notifier, "seq": entry.seq,
            "enqueued_at": entry.enqueued_at.isoformat(), "alert": entry.alert.to_dict()}


def _dump(entry: OutboxEntry) -> bytes:
    return orjson.dumps(_doc(entry), default=str)


def _load(data: bytes, seq: int | None = None) -> OutboxEntry:
    doc = orjson.loads(data)
    return OutboxEntry(id=doc["id"], notifier=doc["notifier"],
                       alert=Alert.from_dict(doc["alert"]),
                       seq=int(doc["seq"]) if seq is None else seq,
                       enqueued_at=datetime.fromisoformat(doc["enqueued_at"]))


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
