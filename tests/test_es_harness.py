"""Smoke tests of the real Elasticsearch node (tests/harness/es.py) and of the ES features
the alerter relies on: composable templates, flattened labels, idempotent bulk creates,
aggregations, aliases, and data surviving a node restart or crash."""

import os
import signal
import threading

import pytest

from tests.harness.es import ElasticsearchNode

pytestmark = pytest.mark.es


def _template(es, prefix):
    es.indices.put_index_template(
        name=f"{prefix}events",
        index_patterns=[f"{prefix}events-*"],
        template={
            "settings": {"number_of_shards": 1, "number_of_replicas": 0},
            "mappings": {
                "dynamic": "strict",
                "properties": {
                    "@timestamp": {"type": "date"},
                    "reason": {"type": "keyword"},
                    "namespace": {"type": "keyword"},
                    "message": {"type": "text"},
                    "labels": {"type": "flattened"},
                },
            },
            "aliases": {f"{prefix}events": {}},
        },
    )


def _events(prefix, index):
    docs = [
        ("e1", "2024-05-01T10:00:00Z", "OOMKilled", {"app.kubernetes.io/name": "api", "team": "core"}),
        ("e2", "2024-05-01T10:30:00Z", "BackOff", {"app.kubernetes.io/name": "api", "team": "core"}),
        ("e3", "2024-05-01T11:15:00Z", "OOMKilled", {"app.kubernetes.io/name": "worker", "team": "data"}),
    ]
    ops = []
    for _id, ts, reason, labels in docs:
        ops.append({"create": {"_index": index, "_id": _id}})
        ops.append({"@timestamp": ts, "reason": reason, "namespace": "prod", "message": f"{reason} in pod", "labels": labels})
    return ops


def test_info_and_ping(es_client, es_node):
    info = es_client.info()
    assert info["version"]["number"].startswith("8.")
    assert info["version"]["build_flavor"] == "default"
    assert info["tagline"] == "You Know, for Search"
    assert es_client.ping()
    assert es_client.cluster.health(wait_for_status="yellow")["status"] in ("yellow", "green")
    assert es_node.url == f"http://127.0.0.1:{es_node.http_port}"


def test_template_bulk_create_is_idempotent(es_client, es_prefix):
    _template(es_client, es_prefix)
    index = f"{es_prefix}events-2024.05"
    first = es_client.bulk(operations=_events(es_prefix, index), refresh=True)
    assert not first["errors"]
    assert [i["create"]["status"] for i in first["items"]] == [201, 201, 201]

    again = es_client.bulk(operations=_events(es_prefix, index), refresh=True)
    assert again["errors"]
    assert [i["create"]["status"] for i in again["items"]] == [409, 409, 409]

    alias = f"{es_prefix}events"
    assert es_client.count(index=alias)["count"] == 3
    assert index in es_client.indices.get_alias(name=alias)

    res = es_client.search(index=alias, size=0, aggs={
        "reasons": {"terms": {"field": "reason"}},
        "per_hour": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1h"}},
    })
    assert {b["key"]: b["doc_count"] for b in res["aggregations"]["reasons"]["buckets"]} == {"OOMKilled": 2, "BackOff": 1}
    assert [b["doc_count"] for b in res["aggregations"]["per_hour"]["buckets"]] == [2, 1]

    es_client.indices.delete(index=index)
    assert not es_client.indices.exists(index=index)


def test_flattened_labels_with_dotted_keys(es_client, es_prefix):
    _template(es_client, es_prefix)
    index = f"{es_prefix}events-2024.05"
    es_client.bulk(operations=_events(es_prefix, index))
    es_client.indices.refresh(index=index)
    mapping = es_client.indices.get_mapping(index=index)[index]["mappings"]["properties"]
    assert mapping["labels"]["type"] == "flattened"

    hits = es_client.search(index=index, query={"term": {"labels.app.kubernetes.io/name": "api"}})["hits"]
    assert hits["total"]["value"] == 2
    teams = es_client.search(index=index, size=0, aggs={"t": {"terms": {"field": "labels.team"}}})
    assert {b["key"] for b in teams["aggregations"]["t"]["buckets"]} == {"core", "data"}


@pytest.mark.slow
def test_restart_and_crash_keep_data(es_client, es_node, es_prefix):
    index = f"{es_prefix}keep"
    es_client.index(index=index, id="1", document={"n": 1}, refresh=True)
    url = es_node.url

    es_node.stop()
    assert not es_node.running
    es_node.start()
    assert es_node.url == url
    assert es_client.get(index=index, id="1")["_source"] == {"n": 1}

    es_client.index(index=index, id="2", document={"n": 2})  # acknowledged, not refreshed
    es_node.kill()
    es_node.start()
    es_client.indices.refresh(index=index)
    assert es_client.count(index=index)["count"] == 2


def test_start_failure_raises_with_log_tail(es_node, tmp_path):
    bad = ElasticsearchNode(tmp_path / "bad", settings={"no.such.setting": "x"}, launcher=es_node.launcher)
    with pytest.raises(RuntimeError, match="no.such.setting"):
        bad.start()
    assert not bad.running


class _Frozen:
    """The node's process group stopped (SIGSTOP) until ``seconds`` have passed or ``thaw()``:
    what a machine loaded by other test sessions, or a long GC pause, does to a probe. The
    process is alive, only slower to answer than one probe waits."""

    def __init__(self, node: ElasticsearchNode, seconds: float):
        self.pgid, self.thawed = node.pid, threading.Event()
        os.killpg(self.pgid, signal.SIGSTOP)
        self._timer = threading.Timer(seconds, self.thaw)
        self._timer.start()

    def thaw(self) -> None:
        self._timer.cancel()
        if not self.thawed.is_set():
            try:
                os.killpg(self.pgid, signal.SIGCONT)
            except ProcessLookupError:  # restarted meanwhile
                pass
            self.thawed.set()


def test_ensure_running_waits_for_a_live_node_that_answers_late(es_node):
    """One slow probe is load, not a dead node: no restart, and back only once it answers."""
    es_node.ensure_running()
    pid = es_node.pid
    frozen = _Frozen(es_node, 8.0)
    try:
        es_node.ensure_running()
        assert frozen.thawed.is_set(), "ensure_running returned while the node had not answered"
        assert es_node.pid == pid, "a live node was restarted"
    finally:
        frozen.thaw()


@pytest.mark.slow
def test_ensure_running_restarts_a_live_node_that_stays_unreachable(es_client, es_node, es_prefix, monkeypatch, caplog):
    """A process that is there but has not answered for the whole grace is restarted, with its
    data, and the harness says so."""
    es_client.index(index=f"{es_prefix}keep", id="1", document={"n": 1}, refresh=True)
    monkeypatch.setattr(es_node, "UNREACHABLE_GRACE", 3.0, raising=False)
    monkeypatch.setattr(es_node, "PROBE_TIMEOUT", 1.0, raising=False)
    pid = es_node.pid
    frozen = _Frozen(es_node, 600.0)  # hung for good: only a restart brings it back
    try:
        es_node.ensure_running()
        assert not frozen.thawed.is_set()
    finally:
        frozen.thaw()
    assert es_node.pid != pid and es_node._ready()
    assert es_client.get(index=f"{es_prefix}keep", id="1")["_source"] == {"n": 1}
    assert "unreachable" in caplog.text and "restarting" in caplog.text, caplog.text
    assert "restarting" in es_node.log_path.read_text()
