"""One history, two stores: every test here that takes `history` runs against the real
Elasticsearch node and against a SQLite file, written the way the daemon writes them (the ES
sink, the SQLite record handler) and searched the way `events` searches them."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.es.helpers import prefix_of
from watcher.es.sink import EsSink
from watcher.search.sqlite_store import SqliteHistory
from watcher.search.stores import EsSearch, SqliteSearch

NOW = datetime(2026, 11, 21, 12, 0, 0, tzinfo=timezone.utc)


class History:
    """`write(records)` through the store's writer, then `store` searches what it holds."""

    def __init__(self, writer, store_factory, after_write=lambda: None) -> None:
        self.writer, self._store_factory, self._after_write = writer, store_factory, after_write
        self.store = None

    def write(self, records) -> None:
        for r in records:
            self.writer.put(r, None)
        assert self.writer.flush(30.0), "the writer did not flush"
        self._after_write()
        self.store = self._store_factory()


@pytest.fixture(params=["sqlite", pytest.param("es", marks=pytest.mark.es)])
def history(request, tmp_path):
    if request.param == "sqlite":
        path = tmp_path / "history.sqlite3"
        writer = SqliteHistory(path, prefix="kea", retention_days=0, max_bytes=0, flush_interval=0.05,
                               clock=lambda: NOW)
        writer.start()
        yield History(writer, lambda: SqliteSearch(path))
        writer.stop()
        return
    client = request.getfixturevalue("es_client")
    prefix = prefix_of(request.getfixturevalue("es_prefix"))
    sink = EsSink(client, prefix=prefix, spool_dir=tmp_path / "spool", spool_max_bytes=10**8, flush_interval=0.05,
                  clock=lambda: NOW)
    sink.install_templates()
    sink.start()
    yield History(sink, lambda: EsSearch(client, prefix=prefix),
                  after_write=lambda: client.indices.refresh(index=f"{prefix}-*"))
    sink.stop()
