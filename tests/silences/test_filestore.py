"""`data_dir/silences.json`: add / list / expire, the daemon seeing the CLI's writes, no lost
write when two writers race, a damaged file neither crashes the daemon nor gets overwritten,
and expired silences kept for five days, then purged."""
from __future__ import annotations

import json
import os
import threading

import pytest

from notifiers.silences import Silence
from tests.silences.helpers import HOUR, NOW, Clock, Stats, silence
from watcher.silences.filestore import FileSilenceStore
from watcher.silences.store import RETENTION, StoreError, UnknownSilence


def test_add_list_expire_survive_a_new_store(tmp_path) -> None:
    store = FileSilenceStore(tmp_path, clock=Clock())
    store.add(silence(id="a"))
    store.add(silence("rule=oom-killed", id="b", start=NOW - 2 * HOUR))
    ended = store.expire("a", NOW)
    assert ended.ends_at == NOW and not ended.active(NOW)
    again = FileSilenceStore(tmp_path, clock=Clock())
    assert [(s.id, s.active(NOW)) for s in again.list()] == [("b", True), ("a", False)]  # oldest first
    assert again.list()[1] == ended


def test_expire_of_an_unknown_id_and_a_second_add_of_one_id(tmp_path) -> None:
    store = FileSilenceStore(tmp_path, clock=Clock())
    store.add(silence(id="a"))
    with pytest.raises(UnknownSilence):
        store.expire("nope", NOW)
    with pytest.raises(StoreError, match="exists already"):
        store.add(silence(id="a"))
    assert len(store.list()) == 1


def test_the_daemon_snapshot_sees_another_writer(tmp_path) -> None:
    daemon, cli = FileSilenceStore(tmp_path, clock=Clock()), FileSilenceStore(tmp_path, clock=Clock())
    assert len(daemon.snapshot()) == 0
    cli.add(silence(id="a"))
    assert [s.id for s in daemon.snapshot()] == ["a"]
    cli.expire("a", NOW)
    (only,) = daemon.snapshot()
    assert not only.active(NOW)
    first = daemon.snapshot()
    assert daemon.snapshot() is first  # unchanged file: not read again


def test_racing_writers_lose_no_silence(tmp_path) -> None:
    """Each thread has its own store (its own open file): only the flock keeps them apart."""
    stores = [FileSilenceStore(tmp_path, clock=Clock()) for _ in range(4)]

    def add_many(store: FileSilenceStore, n: int) -> None:
        for i in range(15):
            store.add(silence(id=f"{n}-{i}"))

    threads = [threading.Thread(target=add_many, args=(s, n)) for n, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(FileSilenceStore(tmp_path).list()) == 60


def test_a_damaged_file_keeps_the_last_snapshot_and_is_not_overwritten(tmp_path, caplog) -> None:
    stats = Stats()
    store = FileSilenceStore(tmp_path, clock=Clock(), stats=stats)
    store.add(silence(id="a"))
    assert len(store.snapshot()) == 1
    (tmp_path / "silences.json").write_text('{"v": 1, "silences": [tru')
    assert [s.id for s in store.snapshot()] == ["a"]
    assert [s.id for s in store.snapshot()] == ["a"]
    assert stats.counts[("error", "file", "read")] == 2
    assert sum("cannot be read" in r.message for r in caplog.records) == 1  # once per outage
    with pytest.raises(StoreError, match="cannot be written"):
        store.add(silence(id="b"))
    assert (tmp_path / "silences.json").read_text() == '{"v": 1, "silences": [tru'
    with pytest.raises(StoreError, match="cannot be read"):
        store.list()


def test_an_unreadable_silence_is_skipped_counted_and_logged(tmp_path, caplog) -> None:
    good = silence(id="good").to_dict()
    bad = {**silence(id="bad").to_dict(), "matchers": ["namspace=shop"]}
    (tmp_path / "silences.json").write_text(json.dumps({"v": 1, "silences": [bad, good]}))
    stats = Stats()
    assert [s.id for s in FileSilenceStore(tmp_path, stats=stats, clock=Clock()).snapshot()] == ["good"]
    assert stats.counts[("invalid", "file")] == 1
    assert any("'bad'" in r.message and "did you mean `namespace`" in r.message for r in caplog.records)


def test_expired_silences_are_kept_five_days_then_purged(tmp_path) -> None:
    clock = Clock()
    store = FileSilenceStore(tmp_path, clock=clock)
    store.add(silence(id="old", start=NOW - 2 * HOUR, end=NOW - HOUR))
    clock.now = NOW - HOUR + RETENTION - HOUR
    assert [s.id for s in store.list()] == ["old"]
    clock.now = NOW - HOUR + RETENTION
    assert store.list() == []
    store.add(silence(id="new", start=clock.now, end=clock.now + HOUR))
    stored = json.loads((tmp_path / "silences.json").read_text())["silences"]
    assert [d["id"] for d in stored] == ["new"]


def test_the_file_holds_only_the_silences_and_no_temp_file_is_left(tmp_path) -> None:
    store = FileSilenceStore(tmp_path, clock=Clock())
    store.add(silence(id="a"))
    assert sorted(os.listdir(tmp_path)) == ["silences.json", "silences.json.lock"]
    doc = json.loads((tmp_path / "silences.json").read_text(encoding="utf-8"))
    assert doc["v"] == 1 and Silence.from_dict(doc["silences"][0]).comment == "扩容中"
