"""The bounded FIFO between the source threads and the pipeline thread, emptied in batches.

`queue.Queue` takes its lock and signals a condition twice per item, on each side; with a
watcher putting a LIST page's 500 records while the pipeline takes them, that was a third of
the pipeline's own cost per record (and, contended, the GIL changing hands for each). Here the
pipeline takes everything that has arrived (up to `limit`) under one lock, and a put signals
only when the queue was empty, the one case where the pipeline can be waiting. Like
`queue.Queue` it counts records taken but not yet done, so `join` can wait for "everything
queued so far is processed" (a replay does that before each step of its clock).
"""
from __future__ import annotations

import threading
import time
from collections import deque
from typing import Generic, TypeVar

_T = TypeVar("_T")


class RecordQueue(Generic[_T]):
    def __init__(self, maxsize: int) -> None:
        if maxsize <= 0:
            raise ValueError("maxsize must be positive: an unbounded queue hides a stuck pipeline")
        self.maxsize = maxsize
        self._items: deque[_T] = deque()
        self._lock = threading.Lock()
        self._not_empty = threading.Condition(self._lock)
        self._not_full = threading.Condition(self._lock)
        self._all_done = threading.Condition(self._lock)
        self._unfinished = 0

    def put(self, item: _T) -> None:
        """Append; blocks while the queue is full (back-pressure, never a drop)."""
        with self._lock:
            while len(self._items) >= self.maxsize:
                self._not_full.wait()
            self._items.append(item)
            self._unfinished += 1
            if len(self._items) == 1:
                self._not_empty.notify()

    def take(self, timeout: float, limit: int = 1000) -> list[_T]:
        """The oldest queued items, at most `limit`, waiting up to `timeout` seconds for one;
        [] if none came. Each must be reported with `done` once processed."""
        with self._lock:
            if not self._items:
                self._not_empty.wait(timeout)
            was_full = len(self._items) >= self.maxsize
            items = self._items
            batch = [items.popleft() for _ in range(min(len(items), limit))]
            if was_full and batch:
                self._not_full.notify_all()
        return batch

    def done(self, count: int) -> None:
        """`count` items taken earlier are processed."""
        if count <= 0:
            return
        with self._lock:
            self._unfinished -= count
            if self._unfinished <= 0:
                self._all_done.notify_all()

    def join(self, timeout: float) -> bool:
        """Wait until every item put so far is done; False if `timeout` came first."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._unfinished > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._all_done.wait(left)
        return True

    def qsize(self) -> int:
        return len(self._items)

    def empty(self) -> bool:
        return not self._items
