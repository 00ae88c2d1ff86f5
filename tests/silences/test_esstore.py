"""`<prefix>-silences` on the real node: a silence made through one replica's store is in the
other's snapshot after its next refresh; expiring; Elasticsearch unreachable keeps the last
snapshot (counted, logged once) and refuses writes; long-expired silences are purged."""
from __future__ import annotations

import logging

import pytest
from elasticsearch import Elasticsearch

from tests.es.helpers import prefix_of, wait_for
from tests.notifiers.receivers import free_port
from tests.silences.helpers import HOUR, NOW, Clock, Stats, silence
from watcher.silences.esstore import EsSilenceStore, silences_index
from watcher.silences.store import RETENTION, StoreError, UnknownSilence

pytestmark = pytest.mark.es


def store(es_client, es_prefix, **kw) -> EsSilenceStore:
    return EsSilenceStore(es_client, prefix=prefix_of(es_prefix), clock=kw.pop("clock", Clock()), **kw)


def test_a_silence_made_on_one_replica_holds_on_the_other(es_client, es_prefix) -> None:
    one, two = store(es_client, es_prefix), store(es_client, es_prefix, refresh_interval=0.1)
    two.start()
    try:
        assert len(two.snapshot()) == 0  # no index yet: nothing, no error
        one.add(silence(id="a"))
        assert [s.id for s in one.snapshot()] == ["a"]  # its own write at once
        wait_for(lambda: [s.id for s in two.snapshot()] == ["a"], timeout=20, what="the other replica's refresh")
        one.expire("a", NOW)
        wait_for(lambda: not two.snapshot().get("a").active(NOW), timeout=20, what="the expiry on the other")
    finally:
        two.close()
    mapping = es_client.indices.get_mapping(index=silences_index(prefix_of(es_prefix)))
    (props,) = [m["mappings"]["properties"] for m in mapping.body.values()]
    assert props["ends_at"] == {"type": "date"} and props["matchers"] == {"type": "keyword"}


def test_list_expire_and_unknown_ids(es_client, es_prefix) -> None:
    s = store(es_client, es_prefix)
    s.add(silence(id="b", start=NOW - 2 * HOUR))
    s.add(silence("rule=oom-killed", id="a"))
    assert [x.id for x in s.list()] == ["b", "a"]  # oldest first
    with pytest.raises(StoreError, match="exists already"):
        s.add(silence(id="a"))
    with pytest.raises(UnknownSilence):
        s.expire("nope", NOW)
    assert s.expire("a", NOW).ends_at == NOW
    assert {x.id: x.active(NOW) for x in store(es_client, es_prefix).list()} == {"a": False, "b": True}


def test_elasticsearch_unreachable_keeps_the_last_snapshot(es_client, es_prefix, caplog) -> None:
    stats = Stats()
    s = store(es_client, es_prefix, stats=stats)
    s.add(silence(id="a"))
    assert s.refresh() and len(s.snapshot()) == 1
    s.client = Elasticsearch(f"http://127.0.0.1:{free_port()}", request_timeout=2).options(max_retries=0)
    with caplog.at_level(logging.WARNING, logger="kea.silences"):
        assert not s.refresh() and not s.refresh()
    assert [x.id for x in s.snapshot()] == ["a"]
    assert stats.counts[("error", "elasticsearch", "read")] == 2
    assert sum("cannot be read" in r.message for r in caplog.records) == 1
    with pytest.raises(StoreError, match="refused the silence"):
        s.add(silence(id="b"))
    with pytest.raises(StoreError, match="cannot be read"):
        s.list()


def test_an_unreadable_document_is_skipped_and_reported_once(es_client, es_prefix, caplog) -> None:
    stats = Stats()
    s = store(es_client, es_prefix, stats=stats)
    s.add(silence(id="good"))
    es_client.index(index=s.index, id="bad", document={"id": "bad", "matchers": []}, refresh=True)
    assert s.refresh() and s.refresh()
    assert [x.id for x in s.snapshot()] == ["good"]
    assert stats.counts[("invalid", "elasticsearch")] == 1


def test_silences_expired_five_days_ago_are_purged(es_client, es_prefix) -> None:
    clock = Clock()
    s = store(es_client, es_prefix, clock=clock)
    s.add(silence(id="old", start=NOW - 2 * HOUR, end=NOW - HOUR))
    s.add(silence(id="new", end=NOW + RETENTION))
    clock.now = NOW - HOUR + RETENTION
    assert [x.id for x in s.list()] == ["new"]
    assert s.refresh()
    assert not es_client.exists(index=s.index, id="old") and es_client.exists(index=s.index, id="new")


def test_a_start_while_elasticsearch_is_down_uses_the_cached_silences(es_client, es_prefix, tmp_path) -> None:
    cache = tmp_path / "silences-cache.json"
    up = store(es_client, es_prefix, cache=cache)
    up.add(silence(id="a"))
    assert up.refresh() and cache.exists()
    dead = Elasticsearch(f"http://127.0.0.1:{free_port()}", request_timeout=2)
    stats = Stats()
    down = EsSilenceStore(dead, prefix=prefix_of(es_prefix), clock=Clock(), cache=cache, stats=stats,
                          refresh_interval=60)
    down.start()
    try:
        assert [s.id for s in down.snapshot()] == ["a"]
        assert stats.counts[("error", "elasticsearch", "read")] == 1
    finally:
        down.close()
    nothing = EsSilenceStore(dead, prefix=prefix_of(es_prefix), clock=Clock(), refresh_interval=60)
    nothing.start()
    nothing.close()
    assert len(nothing.snapshot()) == 0  # no cache: none, and no crash
