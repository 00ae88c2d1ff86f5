"""Keys with a due time, so timers cost O(log n) per change instead of a scan per tick.

Most due times are set in time order: a fold window ends `repeat_interval` after its alert, a
frequency window's oldest hit leaves it `window` after it arrived, and both move with the clock.
Those go to a FIFO (append and pop at the ends, no heap sifting); the few set earlier than the
newest one (a late Event) go to a heap. `pop_due` merges the two in (time, order set), which is
exactly the order one heap of every entry gives.
"""
from __future__ import annotations

import heapq
from collections import deque
from datetime import datetime
from typing import Generic, Hashable, TypeVar

K = TypeVar("K", bound=Hashable)


class Deadlines(Generic[K]):
    """`schedule(key, when)` replaces a key's due time; `pop_due(now)` returns the keys whose
    time has come, in time order (ties: the order they were scheduled in). Superseded entries
    are skipped lazily and compacted when they outnumber the live ones."""

    def __init__(self) -> None:
        self._fifo: deque[tuple[datetime, int, K]] = deque()
        """Entries in (when, seq) order: each `when` at or after the one before it."""
        self._heap: list[tuple[datetime, int, K]] = []
        """Entries due before the FIFO's newest when they were set."""
        self._due: dict[K, datetime] = {}
        self._seq = 0

    def __len__(self) -> int:
        return len(self._due)

    def schedule(self, key: K, when: datetime) -> None:
        due = self._due
        if due.get(key) == when:
            return
        due[key] = when
        self._seq += 1
        fifo = self._fifo
        if not fifo or fifo[-1][0] <= when:  # (a later seq: still in (when, seq) order)
            fifo.append((when, self._seq, key))
        else:
            heapq.heappush(self._heap, (when, self._seq, key))
        if len(fifo) + len(self._heap) > 2 * len(due) + 1024:
            self._fifo = deque(e for e in fifo if due.get(e[2]) == e[0])
            self._heap = [e for e in self._heap if due.get(e[2]) == e[0]]
            heapq.heapify(self._heap)

    def cancel(self, key: K) -> None:
        self._due.pop(key, None)

    def pop_due(self, now: datetime) -> list[K]:
        out: list[K] = []
        fifo, heap, due = self._fifo, self._heap, self._due
        while True:
            if fifo and fifo[0][0] <= now:
                # seq is unique: the tuples compare on (when, seq), never on the key.
                when, _, key = heapq.heappop(heap) if heap and heap[0] < fifo[0] else fifo.popleft()
            elif heap and heap[0][0] <= now:
                when, _, key = heapq.heappop(heap)
            else:
                return out
            if due.get(key) == when:
                del due[key]
                out.append(key)
