"""The on-disk spool: order, commit, restart, bound, torn lines (pure, no Elasticsearch)."""
import logging

import pytest

from tests.es.helpers import Stats
from watcher.es.doc import Doc
from watcher.es.spool import Spool


def docs(a: int, b: int) -> list[Doc]:
    return [Doc("events", "kea-events-2026.11.20", f"id{i}", {"n": i, "pad": "x" * 100}) for i in range(a, b)]


def drain(spool: Spool, batch: int = 7) -> list[str]:
    out = []
    while True:
        got, pos = spool.read(max_docs=batch, max_bytes=10**6)
        spool.commit(pos)
        if not got:
            return out
        out += [d.id for d in got]


def test_reads_in_order_across_segments_and_commit_removes(tmp_path):
    s = Spool(tmp_path, max_bytes=10**6, segment_bytes=1000)
    for i in range(0, 50, 10):
        s.append(docs(i, i + 10))
    assert len(list(tmp_path.glob("seg-*"))) > 3
    got, pos = s.read(max_docs=5, max_bytes=10**6)
    assert [d.id for d in got] == [f"id{i}" for i in range(5)]
    got_again, _ = s.read(max_docs=5, max_bytes=10**6)  # not committed: the same again
    assert got_again == got
    s.commit(pos)
    assert drain(s) == [f"id{i}" for i in range(5, 50)]
    assert s.empty() and s.unread_bytes == 0 and list(tmp_path.glob("seg-*")) == []


def test_max_bytes_limits_a_read(tmp_path):
    s = Spool(tmp_path, max_bytes=10**6)
    s.append(docs(0, 20))
    got, _ = s.read(max_docs=100, max_bytes=500)
    assert 1 <= len(got) < 20


def test_survives_reopen_and_new_appends_go_behind(tmp_path):
    s = Spool(tmp_path, max_bytes=10**6, segment_bytes=1000)
    s.append(docs(0, 20))
    got, pos = s.read(max_docs=8, max_bytes=10**6)
    s.commit(pos)
    s.close()
    s2 = Spool(tmp_path, max_bytes=10**6, segment_bytes=1000)  # a restarted daemon
    s2.append(docs(20, 25))
    assert drain(s2) == [f"id{i}" for i in range(8, 25)]


def test_a_spool_drained_empty_and_reopened_keeps_what_is_appended_next(tmp_path):
    # Fully drained, every segment deleted, the cursor past them: a restarted daemon must not
    # number its new segment below the cursor (it was read past, then deleted unseen).
    s = Spool(tmp_path, max_bytes=10**6, segment_bytes=1000)
    s.append(docs(0, 3))
    assert drain(s) == ["id0", "id1", "id2"]
    s.close()
    s2 = Spool(tmp_path, max_bytes=10**6, segment_bytes=1000)
    s2.append(docs(3, 5))
    assert not s2.empty() and drain(s2) == ["id3", "id4"]


def test_lost_cursor_replays_everything(tmp_path, caplog):
    s = Spool(tmp_path, max_bytes=10**6)
    s.append(docs(0, 5))
    s.commit(s.read(max_docs=2, max_bytes=10**6)[1])
    s.close()
    (tmp_path / "cursor.json").write_text("{garbage")
    with caplog.at_level(logging.WARNING, logger="kea.es"):
        assert drain(Spool(tmp_path, max_bytes=10**6)) == [f"id{i}" for i in range(5)]
    assert "cursor file unreadable" in caplog.text


def test_bound_drops_oldest_segment_counted_and_logged(tmp_path, caplog):
    stats = Stats()
    s = Spool(tmp_path, max_bytes=4000, segment_bytes=1000, stats=stats)
    with caplog.at_level(logging.WARNING, logger="kea.es"):
        for i in range(0, 60, 6):
            s.append(docs(i, i + 6))
    assert s.unread_bytes <= 4000
    left = drain(s)
    assert left == [f"id{i}" for i in range(60 - len(left), 60)]  # the newest survive, in order
    assert s.dropped == 60 - len(left) > 0
    assert stats.total("spool_dropped") == s.dropped
    assert "dropped the oldest segment" in caplog.text


def test_nothing_dropped_below_the_bound(tmp_path):
    s = Spool(tmp_path, max_bytes=10**6, segment_bytes=1000)
    s.append(docs(0, 100))
    assert s.dropped == 0 and len(drain(s)) == 100


def test_torn_last_line_after_kill_is_skipped_and_counted(tmp_path, caplog):
    stats = Stats()
    s = Spool(tmp_path, max_bytes=10**6)
    s.append(docs(0, 3))
    s.close()
    (seg,) = tmp_path.glob("seg-*")
    with open(seg, "ab") as fh:  # what kill -9 in the middle of a write leaves
        fh.write(docs(3, 4)[0].to_line()[:40])
    s2 = Spool(tmp_path, max_bytes=10**6, stats=stats)
    s2.append(docs(4, 6))  # a new process appends to a new segment, never after the torn line
    with caplog.at_level(logging.WARNING, logger="kea.es"):
        assert drain(s2) == ["id0", "id1", "id2", "id4", "id5"]
    assert s2.corrupt == 1 and stats.total("spool_corrupt") == 1
    assert "torn line" in caplog.text
    assert s2.empty()


def test_garbage_line_in_the_middle_is_skipped(tmp_path):
    s = Spool(tmp_path, max_bytes=10**6)
    s.append(docs(0, 1))
    s.close()
    (seg,) = tmp_path.glob("seg-*")
    with open(seg, "ab") as fh:
        fh.write(b'{"not": "a doc"}\n\x00\x00\n')
    s2 = Spool(tmp_path, max_bytes=10**6)
    s2.append(docs(1, 2))
    assert drain(s2) == ["id0", "id1"] and s2.corrupt == 2


def test_spool_bytes_gauge(tmp_path):
    stats = Stats()
    s = Spool(tmp_path, max_bytes=10**6, stats=stats)
    s.append(docs(0, 4))
    assert stats.gauge("spool_bytes") == s.unread_bytes > 0
    drain(s)
    assert stats.gauge("spool_bytes") == 0


def test_appends_work_again_after_the_disk_refused_a_new_segment(tmp_path, monkeypatch):
    """A full disk can refuse the file of the next segment; once it has room again the spool
    must take documents (not write to the segment it closed, which raises ValueError)."""
    s = Spool(tmp_path, max_bytes=10**6, segment_bytes=1000)
    s.append(docs(0, 10))  # over segment_bytes: the next append opens a new segment

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("watcher.es.spool.open", disk_full, raising=False)
    with pytest.raises(OSError):  # what the sink expects: it keeps the documents in memory
        s.append(docs(10, 20))
    monkeypatch.undo()
    s.append(docs(20, 30))
    assert drain(s) == [f"id{i}" for i in (*range(0, 10), *range(20, 30))]
