"""A bug in the normaliser (any exception, not MalformedObject) on one object skips that object,
counted and logged; it must not end the watch session, or the watcher would resume from the
same resourceVersion and meet the same object again, forever."""
import pytest

import watcher.kube.watching as watching
from tests.kube.fakeapi import Reply, line, pod, pod_list
from tests.kube.helpers import wait_until


@pytest.fixture
def buggy_normalizer(monkeypatch):
    real = watching.normalize

    def normalize(watch_type, obj, **kw):
        if obj["metadata"]["name"] == "poison":
            raise OverflowError("date value out of range")
        return real(watch_type, obj, **kw)

    monkeypatch.setattr(watching, "normalize", normalize)


def test_a_normaliser_error_skips_the_object_and_the_stream_goes_on(fake_api, rig, buggy_normalizer, caplog):
    fake_api.lists.put(Reply(body=pod_list(10)))
    fake_api.watches.put(Reply(chunks=[line("MODIFIED", pod("poison", 11)), line("ADDED", pod("ok", 12))]))
    r = rig().start()
    wait_until(lambda: len(r.records) >= 1, 5, "the good event")
    assert r.records.changes() == [("ADDED", "ok", False)]
    assert r.stats.reasons("records_skipped") == {"normalize_error": 1}
    assert not r.stats.count("watch_reconnects"), "one bad object is no reason to reconnect"
    assert "poison" in caplog.text and "OverflowError" in caplog.text


def test_a_sink_error_is_an_internal_error_not_a_connection_problem(fake_api, rig):
    fake_api.lists.put(Reply(body=pod_list(10)))
    fake_api.watches.put(Reply(chunks=[line("ADDED", pod("a", 11))]))
    r = rig()

    def broken_sink(record):
        raise RuntimeError("pipeline bug")

    r.watcher.sink = broken_sink
    r.start()
    wait_until(lambda: r.stats.count("watch_reconnects") >= 1, 5, "the failed session")
    # a refused connection retries within 2 s; a bug must not get that short, hammering loop
    assert r.stats.reasons("watch_reconnects") == {"internal_error": r.stats.count("watch_reconnects")}
