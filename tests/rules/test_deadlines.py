"""`Deadlines` (a FIFO for due times set in order, a heap for the others) pops exactly what one
heap of every entry pops, in the same order: time, then the order the keys were scheduled in
(the order of alerts due at the same moment is behaviour). Checked against that one heap on
random schedules, cancels and pops, with many ties and times set out of order."""
from __future__ import annotations

import heapq
from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from rules.deadlines import Deadlines

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


class OneHeap:
    """The reference: every entry in one heap, superseded ones skipped when popped."""

    def __init__(self) -> None:
        self.heap: list = []
        self.due: dict = {}
        self.seq = 0

    def schedule(self, key, when) -> None:
        if self.due.get(key) == when:
            return
        self.due[key] = when
        self.seq += 1
        heapq.heappush(self.heap, (when, self.seq, key))

    def cancel(self, key) -> None:
        self.due.pop(key, None)

    def pop_due(self, now) -> list:
        out = []
        while self.heap and self.heap[0][0] <= now:
            when, _, key = heapq.heappop(self.heap)
            if self.due.get(key) == when:
                del self.due[key]
                out.append(key)
        return out


ops = st.lists(st.one_of(
    st.tuples(st.just("schedule"), st.integers(0, 6), st.integers(-3, 12)),
    st.tuples(st.just("cancel"), st.integers(0, 6), st.just(0)),
    st.tuples(st.just("pop"), st.just(0), st.integers(-2, 4)),
), max_size=120)


@settings(max_examples=400, deadline=None)
@given(ops)
def test_pops_what_one_heap_pops_in_the_same_order(steps):
    got, want, clock = Deadlines(), OneHeap(), 0
    for op, key, n in steps:
        if op == "schedule":  # around the clock: mostly later, sometimes earlier, often the same second
            when = T0 + timedelta(seconds=clock + n)
            got.schedule(key, when)
            want.schedule(key, when)
        elif op == "cancel":
            got.cancel(key)
            want.cancel(key)
        else:
            clock += n
            now = T0 + timedelta(seconds=clock)
            assert got.pop_due(now) == want.pop_due(now)
        assert len(got) == len(want.due)
    end = T0 + timedelta(days=1)
    assert got.pop_due(end) == want.pop_due(end)


def test_superseded_entries_are_compacted_and_order_is_kept():
    got, want = Deadlines(), OneHeap()
    for i in range(5000):  # the same few keys rescheduled over and over, in and out of order
        when = T0 + timedelta(seconds=(i * 7) % 50)
        got.schedule(i % 10, when)
        want.schedule(i % 10, when)
    assert len(got._fifo) + len(got._heap) <= 2 * len(got) + 1024 + 1
    assert got.pop_due(T0 + timedelta(minutes=5)) == want.pop_due(T0 + timedelta(minutes=5))
