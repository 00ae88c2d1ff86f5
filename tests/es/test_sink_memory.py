"""The sink's memory when the spool cannot be written (disk full): bounded, the oldest
documents dropped first, every drop counted and logged. No Elasticsearch needed: the writer
is not started (as before start-up), so everything stays with the sink."""
import errno
import logging

from tests.es.helpers import Stats, events, fixed_clock
from watcher.es.sink import EsSink


class _NoClient:
    def options(self, **kw):
        return self


def _disk_full(docs):
    raise OSError(errno.ENOSPC, "No space left on device")


def _sink(tmp_path, stats, **kw):
    sink = EsSink(_NoClient(), prefix="kea", spool_dir=tmp_path / "spool", spool_max_bytes=10**6,
                  clock=fixed_clock, stats=stats, max_queued=10, **kw)
    sink.spool.append = _disk_full
    return sink


def test_memory_is_bounded_when_the_spool_cannot_be_written(tmp_path, caplog):
    stats = Stats()
    sink = _sink(tmp_path, stats)
    with caplog.at_level(logging.WARNING, logger="kea.es"):
        for r in events(500):
            sink.put(r)
    held = sink.status()["queued"]
    assert held <= 4 * 10, held  # the default bound: four times max_queued
    assert stats.total("spool_dropped", reason="spool_unwritable") == 500 - held
    assert "dropped" in caplog.text and "No space left" in caplog.text
    assert len(caplog.records) < 10, "one line per record is log spam"
    assert sink.status()["spool_ok"] is False


def test_the_newest_documents_are_the_ones_kept(tmp_path):
    sink = _sink(tmp_path, Stats(), max_memory=25)
    for r in events(100):
        sink.put(r)
    kept = [d.id for d in sink._queue]
    assert len(kept) == 25 and kept[-1] == "uid-ev99:1"
    assert kept == sorted(kept, key=lambda i: int(i.split(":")[0][6:]))  # still in arrival order
