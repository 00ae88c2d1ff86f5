"""The pipeline's queue: FIFO in batches, back-pressure when full, join after done."""
import threading
import time

import pytest

from watcher.record_queue import RecordQueue


def test_take_returns_what_arrived_oldest_first_up_to_the_limit():
    q: RecordQueue[int] = RecordQueue(100)
    for i in range(7):
        q.put(i)
    assert q.take(0.1, limit=3) == [0, 1, 2]
    assert q.take(0.1, limit=10) == [3, 4, 5, 6]
    assert q.take(0.05) == [] and q.empty()


def test_a_waiting_take_is_woken_by_a_put():
    q: RecordQueue[str] = RecordQueue(10)
    got: list[list[str]] = []
    taker = threading.Thread(target=lambda: got.append(q.take(30.0)))
    taker.start()
    time.sleep(0.05)  # (lets the taker reach its wait; the assertion does not depend on it)
    q.put("a")
    taker.join(5.0)
    assert not taker.is_alive() and got == [["a"]]


def test_put_blocks_while_full_and_goes_on_once_a_take_makes_room():
    q: RecordQueue[int] = RecordQueue(2)
    q.put(1)
    q.put(2)
    third = threading.Thread(target=q.put, args=(3,))
    third.start()
    third.join(0.2)
    assert third.is_alive() and q.qsize() == 2  # back-pressure: nothing dropped, nothing added
    assert q.take(0.1, limit=1) == [1]
    third.join(5.0)
    assert not third.is_alive() and q.take(0.1) == [2, 3]


def test_join_waits_for_every_item_to_be_done_not_just_taken():
    q: RecordQueue[int] = RecordQueue(10)
    q.put(1)
    q.put(2)
    batch = q.take(0.1)
    assert q.empty() and not q.join(0.05)  # taken, not processed
    q.done(1)
    assert not q.join(0.05)
    q.done(1)
    assert q.join(0.05) and len(batch) == 2


def test_an_unbounded_queue_is_refused():
    with pytest.raises(ValueError, match="maxsize"):
        RecordQueue(0)
