"""Keys with a due time, so timers cost O(log n) per change instead of a scan per tick."""
from __future__ import annotations

import heapq
from datetime import datetime
from typing import Generic, Hashable, TypeVar

K = TypeVar("K", bound=Hashable)


class Deadlines(Generic[K]):
    """`schedule(key, when)` replaces a key's due time; `pop_due(now)` returns the keys whose
    time has come, in time order. Superseded heap entries are skipped lazily and compacted
    when they outnumber the live ones."""

    def __init__(self) -> None:
        self._heap: list[tuple[datetime, int, K]] = []
        self._due: dict[K, datetime] = {}
        self._seq = 0

    def __len__(self) -> int:
        return len(self._due)

    def schedule(self, key: K, when: datetime) -> None:
        if self._due.get(key) == when:
            return
        self._due[key] = when
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, key))
        if len(self._heap) > 2 * len(self._due) + 1024:
            self._heap = [(w, i, k) for w, i, k in self._heap if self._due.get(k) == w]
            heapq.heapify(self._heap)

    def cancel(self, key: K) -> None:
        self._due.pop(key, None)

    def pop_due(self, now: datetime) -> list[K]:
        out: list[K] = []
        heap, due = self._heap, self._due
        while heap and heap[0][0] <= now:
            when, _, key = heapq.heappop(heap)
            if due.get(key) == when:
                del due[key]
                out.append(key)
        return out
