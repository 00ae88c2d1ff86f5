"""The on-disk spool: documents wait here while Elasticsearch is unreachable.

Append-only segment files (`seg-<n>.jsonl`, one `Doc` per line) in one directory, written in
batches and fsynced before `append` returns, read back in order from a cursor. A document leaves
the spool only when `commit` is called after Elasticsearch acknowledged it; a crash between the
two replays it, which the deterministic `_id`s make harmless (409 on `create`).

Bounded by bytes: past `max_bytes` the oldest segment is deleted whole (oldest-first, the
newest data is what an SRE looks at during an incident), its documents are counted in
`spool_dropped` and a warning says how many. Segments stay small next to the bound so one drop
loses little.

Survives kill -9: a process never appends to a segment it did not create, so a torn last line
(a write cut short) stays the last line of its segment; reading skips it, counts it in
`spool_corrupt` and logs, instead of failing or gluing it to the next document. The cursor file
is replaced atomically; if it is missing or damaged the whole spool is replayed (idempotent).
"""
from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Optional, Sequence

import orjson

from watcher.es.doc import Doc
from watcher.es.stats import NO_SINK_STATS, SinkStats

log = logging.getLogger("kea.es")

_PREFIX, _SUFFIX = "seg-", ".jsonl"
_CURSOR = "cursor.json"


@dataclass(frozen=True, slots=True)
class Position:
    """Where reading stops: commit it once everything before it is acknowledged."""

    segment: int
    offset: int


def _segment_name(n: int) -> str:
    return f"{_PREFIX}{n:012d}{_SUFFIX}"


class Spool:
    """Thread-safe: `append` may run on any thread; reading and committing on one (the writer)."""

    def __init__(self, directory: str | os.PathLike, *, max_bytes: int, segment_bytes: Optional[int] = None,
                 stats: SinkStats = NO_SINK_STATS) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max(1, max_bytes)
        # at least 8 segments fit in the bound, so dropping one loses at most ~1/8 of it
        self.segment_bytes = segment_bytes or max(64 * 1024, min(16 * 1024 * 1024, self.max_bytes // 8))
        self.stats = stats
        self._lock = threading.RLock()
        self._sizes: dict[int, int] = {}
        for p in self.dir.glob(f"{_PREFIX}*{_SUFFIX}"):
            try:
                self._sizes[int(p.name[len(_PREFIX):-len(_SUFFIX)])] = p.stat().st_size
            except (ValueError, OSError):
                log.warning("spool: ignoring unexpected file %s", p)
        self._active: Optional[int] = None  # the segment this process appends to
        self._fh: Optional[BinaryIO] = None
        self._next = max(self._sizes, default=0) + 1
        self._cursor = self._load_cursor()
        # Never below the cursor: after a full drain every segment is gone but the cursor stays,
        # and a segment numbered below it would be read past and deleted unseen.
        self._next = max(self._next, self._cursor.segment)
        self.dropped = 0
        self.corrupt = 0
        self._reported: set[tuple[int, int]] = set()
        self._publish()

    # -- state

    @property
    def unread_bytes(self) -> int:
        with self._lock:
            total = sum(self._sizes.values())
            if self._cursor.segment in self._sizes:
                total -= min(self._cursor.offset, self._sizes[self._cursor.segment])
            return total

    def empty(self) -> bool:
        return self.unread_bytes == 0

    # -- writing

    def append(self, docs: Sequence[Doc]) -> None:
        """Write `docs` at the end, fsync, then enforce the bound. Raises OSError if the disk
        refuses (the caller keeps the documents and logs)."""
        if not docs:
            return
        data = b"".join(d.to_line() for d in docs)
        with self._lock:
            fh, active = self._segment_for_append()
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
            self._sizes[active] += len(data)
            self._enforce_bound()
            self._publish()

    def _segment_for_append(self) -> tuple[BinaryIO, int]:
        """The open segment (file, number) to append to: a new one when none is open or it is full."""
        if self._fh is None or self._active is None or self._sizes.get(self._active, 0) >= self.segment_bytes:
            return self._rotate()
        return self._fh, self._active

    def _rotate(self) -> tuple[BinaryIO, int]:
        if self._fh is not None:
            self._fh.close()
            # until the next file opens (the disk may be full), no segment is open: the next
            # append tries again instead of writing to the closed one
            self._fh, self._active = None, None
        active, self._next = self._next, self._next + 1
        fh = open(self.dir / _segment_name(active), "ab")
        self._fh, self._active = fh, active
        self._sizes[active] = 0
        self._fsync_dir()
        return fh, active

    def _enforce_bound(self) -> None:
        while sum(self._sizes.values()) > self.max_bytes and self._sizes:
            oldest = min(self._sizes)
            start = self._cursor.offset if self._cursor.segment == oldest else 0
            lost = self._count_lines(oldest, start)
            self._remove(oldest)
            if self._cursor.segment <= oldest:
                self._cursor = Position(oldest + 1, 0)
                self._save_cursor()
            self.dropped += lost
            self.stats.spool_dropped("spool_full", lost)
            log.warning("spool over its bound of %d bytes: dropped the oldest segment with %d documents "
                        "(%d dropped so far)", self.max_bytes, lost, self.dropped)

    # -- reading

    def read(self, *, max_docs: int, max_bytes: int) -> tuple[list[Doc], Position]:
        """Up to `max_docs` documents (about `max_bytes`) from the cursor, oldest first, and the
        position after them. Damaged lines are skipped and counted."""
        docs: list[Doc] = []
        taken = 0
        with self._lock:
            pos = self._cursor
            for seg in sorted(s for s in self._sizes if s >= pos.segment):
                offset = pos.offset if seg == pos.segment else 0
                with open(self.dir / _segment_name(seg), "rb") as fh:
                    fh.seek(offset)
                    while len(docs) < max_docs and taken < max_bytes:
                        line = fh.readline()
                        if not line:
                            break
                        self._decode(line, seg, offset, docs)
                        offset += len(line)
                        taken += len(line)
                pos = Position(seg, offset)
                if len(docs) >= max_docs or taken >= max_bytes or offset < self._sizes[seg]:
                    break
            return docs, pos

    def _decode(self, line: bytes, seg: int, offset: int, docs: list[Doc]) -> None:
        try:
            docs.append(Doc.from_line(line))
            return
        except (ValueError, KeyError, TypeError) as exc:
            problem = f"unreadable line ({type(exc).__name__})"
        # A line without its newline is the torn end of a write cut short by a crash (only the
        # segment's own, now dead, writer could have appended to it).
        if not line.endswith(b"\n"):
            problem = "torn line (no newline)"
        if (seg, offset) in self._reported:
            return  # re-read after a failed send: counted once
        self._reported.add((seg, offset))
        self.corrupt += 1
        self.stats.spool_corrupt()
        log.warning("spool: skipped %s of %d bytes in %s", problem, len(line), _segment_name(seg))

    def commit(self, pos: Position) -> None:
        """Everything before `pos` is acknowledged: move the cursor, delete finished segments."""
        with self._lock:
            for seg in [s for s in self._sizes if s < pos.segment]:
                self._remove(seg)
            if pos.segment in self._sizes and pos.offset >= self._sizes[pos.segment]:
                # the segment is fully read: delete it (the active one too: appends reopen anew)
                self._remove(pos.segment)
                pos = Position(pos.segment + 1, 0)
            self._cursor = pos
            self._save_cursor()
            self._publish()

    # -- internals

    def _remove(self, seg: int) -> None:
        if seg == self._active and self._fh is not None:
            self._fh.close()
            self._fh, self._active = None, None
        self._sizes.pop(seg, None)
        try:
            (self.dir / _segment_name(seg)).unlink()
        except FileNotFoundError:
            pass

    def _count_lines(self, seg: int, start: int) -> int:
        try:
            with open(self.dir / _segment_name(seg), "rb") as fh:
                fh.seek(start)
                data = fh.read()
        except OSError:
            return 0
        return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)

    def _load_cursor(self) -> Position:
        first = min(self._sizes, default=self._next)
        try:
            d = orjson.loads((self.dir / _CURSOR).read_bytes())
            pos = Position(int(d["segment"]), int(d["offset"]))
        except FileNotFoundError:
            return Position(first, 0)
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("spool: cursor file unreadable; replaying the whole spool (ids make it idempotent)")
            return Position(first, 0)
        return pos if pos.segment >= first else Position(first, 0)

    def _save_cursor(self) -> None:
        # tmp + rename: a crash leaves the old cursor or the new one, never half of one; losing
        # it replays committed documents, which is safe
        tmp = self.dir / (_CURSOR + ".tmp")
        tmp.write_bytes(orjson.dumps({"segment": self._cursor.segment, "offset": self._cursor.offset}))
        os.replace(tmp, self.dir / _CURSOR)

    def _fsync_dir(self) -> None:
        try:
            fd = os.open(self.dir, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _publish(self) -> None:
        self.stats.spool_bytes(self.unread_bytes)

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh, self._active = None, None
