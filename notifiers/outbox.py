"""Durable outbox: what has to reach a robot survives restarts, and what did is never resent.

Layout of the directory:
  pending/<seq>-<hash>.json   one file per undelivered (notifier, alert) pair
  failed/<seq>-<hash>.json    dead letters: rejected for good (93000, 310000, ...), kept for
                              inspection and `requeue_failed()`, never resent on their own
  confirmed.log               append-only, one JSON line per settled entry: {"id", "t"} and,
                              since grouping, "n" notifier, "g" group, "i" incident, "s" status
                              and "r" the result when it was settled without a send

An entry file is written with temp file + fsync + rename (+ fsync of the directory), so a
kill -9 leaves either the whole entry or none. Confirming appends to confirmed.log and fsyncs
*before* the entry file is removed: a crash in between leaves a confirmed id next to its
entry, and loading deletes that entry instead of resending it. The confirmed log keeps ids
for `retention_seconds` (default 7 days) and at most `max_confirmed` of them; a `put` of a
confirmed, pending or dead-lettered id does nothing. That is the "never twice" guarantee
across replays and restarts. The only window left is a crash between the platform's answer
and the log append: that entry is sent again (at least once beats at most once for alerts).

An entry may be *held*: `not_before` (group_wait / group_interval, an escalation's delay, an
inhibition look-ahead) is written with it, so a hold survives restarts. `group` is the route's
group key (routes.RouteMatch.group_key); `step` > 0 marks escalation step `step` of an alert (its
own id). Entries written before these fields existed load with none: sent as before. An entry
settled without a send (`settle`: silenced, inhibited, skipped) is remembered like a confirmed
one (never written again) but not as sent. From the log the outbox knows, per notifier, when each
group was last flushed and how each incident's firing was settled (`group_flushed`,
`firing_settled`; a sent escalation step counts as a sent firing for its robot), across restarts, which the grouping and silence stages need.

Bounded: when `max_entries` are pending, the oldest are dropped to make room, and returned
so the caller counts and logs them.

Across replicas the outbox cannot know what another replica delivered; `KnownDelivered` carries
that knowledge in (entry ids from the alert history, `delivered_hash`es a leader published on
its Lease), and `recently_confirmed` is what a leader publishes.
"""
from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable

import orjson

from rules.alert import Alert

from .clock import WallClock, utcnow
from .outbox_entry import (KnownDelivered, OutboxEntry, PutResult, Settled, delivered_hash, dump_entry,
                           entry_doc, entry_id, file_name, incident_of, load_entry, mark_doc, mark_of)
from .redact import protect_logger, redact

__all__ = ["KnownDelivered", "Outbox", "OutboxEntry", "PutResult", "Settled", "delivered_hash", "entry_id",
           "incident_of"]

log: logging.Logger = protect_logger("kea.notifiers.outbox")


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
        self._confirmed: OrderedDict[str, Settled] = OrderedDict()
        self._flushed: dict[tuple[str, str], float] = {}
        self._firing: dict[tuple[str, str], Settled] = {}
        self._by_group: dict[tuple[str, str], set[str]] = {}
        self._by_incident: dict[str, set[str]] = {}
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
            for id, mark in reversed(self._confirmed.items()):
                if mark.t < cutoff or len(out) >= limit:
                    break
                out.append(id)
        return out[::-1]

    def failed_ids(self) -> list[str]:
        with self._lock:
            return list(self._failed)

    def in_group(self, notifier: str, group: str) -> list[OutboxEntry]:
        """Pending entries of one notifier's group."""
        with self._lock:
            return [self._pending[i][0] for i in self._by_group.get((notifier, group), ())]

    def of_incident(self, incident: str) -> list[OutboxEntry]:
        """Pending entries of one incident, for every notifier."""
        with self._lock:
            return [self._pending[i][0] for i in self._by_incident.get(incident, ())]

    def group_flushed(self, notifier: str, group: str) -> datetime | None:
        """When an entry of this group was last sent to `notifier` (None: not within retention)."""
        with self._lock:
            t = self._flushed.get((notifier, group))
        return None if t is None else datetime.fromtimestamp(t, tz=self._clock().tzinfo)

    def firing_settled(self, notifier: str, incident: str) -> Settled | None:
        """How the latest settled firing of `incident` to `notifier` was settled (sent,
        silenced, inhibited, ...); None: none known."""
        with self._lock:
            return self._firing.get((notifier, incident))

    # -- changes -------------------------------------------------------------------------------
    def put(self, notifier: str, alert: Alert, *, not_before: datetime | None = None,
            group: str = "", step: int = 0) -> PutResult:
        """Durably add one entry (on disk when this returns), unless the id is known."""
        id = entry_id(notifier, alert, step)
        with self._lock:
            if id in self._confirmed:
                return PutResult(None, "confirmed")
            if id in self._pending:
                return PutResult(None, "pending")
            if id in self._failed:
                return PutResult(None, "failed")
            dropped = []
            while len(self._pending) >= self._max_entries:
                old, path = self._pop(next(iter(self._pending)))
                _unlink(path)
                dropped.append(old)
            if dropped:
                _fsync_dir(self._pending_dir)
            entry = OutboxEntry(id, notifier, alert, self._next_seq(), self._clock(),
                                not_before=not_before, group=group, step=step)
            path = self._pending_dir / file_name(entry)
            _write_atomic(path, dump_entry(entry))
            self._add(entry, path)
            return PutResult(entry, "added", tuple(dropped))

    def rehold(self, ids: Iterable[str], not_before: datetime) -> list[OutboxEntry]:
        """Hold these pending entries until `not_before` (on disk when this returns), those
        held less long; returns the entries changed."""
        return [e for i in ids if (e := self._rewrite(
            i, lambda old: old.not_before is None or old.not_before < not_before, not_before=not_before))]

    def mark_reported(self, id: str, silence: str) -> OutboxEntry | None:
        """Remember (on disk) that this entry's hold by `silence` was reported."""
        return self._rewrite(id, lambda old: old.reported != silence, reported=silence)

    def _rewrite(self, id: str, wanted: Callable[[OutboxEntry], bool], **changes: Any) -> OutboxEntry | None:
        with self._lock:
            found = self._pending.get(id)
            if found is None or not wanted(found[0]):
                return None
            entry, path = replace(found[0], **changes), found[1]
            _write_atomic(path, dump_entry(entry))
            self._pending[id] = (entry, path)
            return entry

    def confirm(self, ids: Iterable[str]) -> None:
        """The platform accepted these: remember them, then forget the entries."""
        self.settle(ids, "sent")

    def settle(self, ids: Iterable[str], result: str, code: str = "") -> None:
        """Forget these entries for good: `sent` (the platform accepted them), or settled
        without a send (`silenced`, `inhibited`, `skipped`; `code` says why: the silence id,
        the inhibiting alert id). Logged (fsynced) first."""
        ids = list(dict.fromkeys(ids))
        if not ids:
            return
        with self._lock:
            now = self._clock().timestamp()
            marks = {i: self._mark(i, now, result, code) for i in ids}
            lines = b"".join(orjson.dumps(mark_doc(i, m)) + b"\n" for i, m in marks.items())
            with open(self._log_path, "ab") as f:
                f.write(lines)
                f.flush()
                os.fsync(f.fileno())
            self._log_lines += len(ids)
            for i, mark in marks.items():
                self._remember(i, mark)
                if i in self._pending:
                    _unlink(self._pop(i)[1])
            _fsync_dir(self._pending_dir)
            self._expire(now)
            if self._log_lines > 2 * len(self._confirmed) + 1000:
                self._rewrite_log()

    def fail(self, ids: Iterable[str], *, code: str, detail: str = "") -> None:
        """Move entries the platform rejected for good to the dead-letter directory."""
        with self._lock:
            for i in ids:
                if i not in self._pending:
                    continue
                entry, path = self._pop(i)
                doc = entry_doc(entry)
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
                    entry = load_entry(path.read_bytes(), self._next_seq())
                except (OSError, ValueError, KeyError, TypeError) as e:
                    log.error("cannot requeue dead letter %s: %s", path.name, redact(e))
                    continue
                target = self._pending_dir / file_name(entry)
                _write_atomic(target, dump_entry(entry))
                _unlink(path)
                del self._failed[i]
                self._add(entry, target)
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
                entry = load_entry(path.read_bytes())
            except (OSError, ValueError, KeyError, TypeError) as e:
                log.error("outbox entry %s unreadable (%s): moved to failed/", path.name,
                          redact(e))
                os.replace(path, self._failed_dir / (path.name + ".corrupt"))
                continue
            self._seq = max(self._seq, entry.seq)
            if entry.id in self._confirmed or entry.id in self._pending:
                _unlink(path)  # confirmed just before a crash removed it: do not resend
                continue
            self._add(entry, path)
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
                self._remember(str(doc["id"]), mark_of(doc))
            except (ValueError, KeyError, TypeError, AttributeError):
                bad += 1  # a line torn by a crash mid-append
        self._log_lines = len(data.splitlines())
        self._expire(self._clock().timestamp())
        if bad or data and not data.endswith(b"\n") or self._log_lines > len(self._confirmed):
            self._rewrite_log()

    def _expire(self, now: float) -> None:
        while self._confirmed:
            first_id, mark = next(iter(self._confirmed.items()))
            if len(self._confirmed) > self._max_confirmed or mark.t < now - self._retention:
                self._confirmed.popitem(last=False)
                self._forget(mark)
            else:
                break

    # -- the indexes ---------------------------------------------------------------------------
    def _add(self, entry: OutboxEntry, path: Path) -> None:
        self._pending[entry.id] = (entry, path)
        self._by_group.setdefault((entry.notifier, entry.group), set()).add(entry.id)
        self._by_incident.setdefault(entry.incident, set()).add(entry.id)

    def _pop(self, id: str) -> tuple[OutboxEntry, Path]:
        entry, path = self._pending.pop(id)
        _unindex(self._by_group, (entry.notifier, entry.group), id)
        _unindex(self._by_incident, entry.incident, id)
        return entry, path

    def _mark(self, id: str, now: float, result: str, code: str) -> Settled:
        found = self._pending.get(id)
        if found is None:
            return Settled(now, result=result, code=code)
        e = found[0]
        return Settled(now, e.notifier, e.group, e.incident, e.alert.status if not e.step else "escalation",
                       result, code)

    def _remember(self, id: str, mark: Settled) -> None:
        self._confirmed.pop(id, None)
        self._confirmed[id] = mark
        if not mark.notifier:
            return
        if mark.result == "sent":
            self._flushed[(mark.notifier, mark.group)] = mark.t
        if mark.status == "firing" or (mark.status == "escalation" and mark.result == "sent"):
            self._firing[(mark.notifier, mark.incident)] = mark  # a sent step told that robot it fired

    def _forget(self, mark: Settled) -> None:
        if self._flushed.get((mark.notifier, mark.group)) == mark.t:
            del self._flushed[(mark.notifier, mark.group)]
        if self._firing.get((mark.notifier, mark.incident)) is mark:
            del self._firing[(mark.notifier, mark.incident)]

    def _rewrite_log(self) -> None:
        data = b"".join(orjson.dumps(mark_doc(i, m)) + b"\n"
                        for i, m in self._confirmed.items())
        _write_atomic(self._log_path, data)
        self._log_lines = len(self._confirmed)

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq


def _unindex(index: dict[Any, set[str]], key: Any, id: str) -> None:
    ids = index.get(key)
    if ids is not None:
        ids.discard(id)
        if not ids:
            del index[key]


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
