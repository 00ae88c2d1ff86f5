"""Index templates on the real node: installed idempotently, the mapping they give, dotted label
keys, aliases."""
import pytest

from tests.es.helpers import Stats, events, fixed_clock, prefix_of, wait_for
from tests.factories import event, rec
from watcher.es import EsSink
from watcher.es.templates import index_templates, install_templates

pytestmark = pytest.mark.es


def test_templates_install_idempotently(es_client, es_prefix):
    prefix = prefix_of(es_prefix)
    install_templates(es_client, prefix)
    install_templates(es_client, prefix)  # a second daemon start: no error, same result
    names = {t["name"] for t in es_client.indices.get_index_template(name=f"{prefix}-*")["index_templates"]}
    assert names == {f"{prefix}-events", f"{prefix}-endpoints", f"{prefix}-terminations", f"{prefix}-alerts"}
    assert es_client.cluster.get_component_template(name=f"{prefix}-common")["component_templates"]
    assert set(index_templates(prefix)) == names


def _sink(es_client, prefix, tmp_path, stats):
    sink = EsSink(es_client, prefix=prefix, spool_dir=tmp_path / "spool", spool_max_bytes=10**7,
                  flush_interval=0.1, clock=fixed_clock, stats=stats)
    assert sink.install_templates()
    sink.start()
    return sink


def _written(stats):
    return stats.total("docs_indexed") + stats.total("docs_duplicate") + stats.total("docs_rejected")


def test_event_mapping_is_what_kibana_needs(es_client, es_prefix, tmp_path):
    prefix, stats = prefix_of(es_prefix), Stats()
    sink = _sink(es_client, prefix, tmp_path, stats)
    sink.put(events(1)[0])
    wait_for(lambda: _written(stats) == 1, timeout=30, what="1 event written")
    sink.stop(5)
    (index,) = es_client.indices.get_alias(name=f"{prefix}-events")
    props = es_client.indices.get_mapping(index=index)[index]["mappings"]["properties"]
    for field in ("cluster", "reason", "type", "kind", "namespace", "name", "uid", "node", "reporting_component"):
        assert props[field]["type"] == "keyword", field
    assert props["message"]["type"] == "text" and props["message"]["fields"]["keyword"]["type"] == "keyword"
    for field in ("@timestamp", "first_timestamp", "last_timestamp"):
        assert props[field]["type"] == "date", field
    assert props["count"]["type"] == "long"
    assert props["labels"]["type"] == "flattened" and props["annotations"]["type"] == "flattened"


def test_dotted_label_keys_index_without_conflict(es_client, es_prefix, tmp_path):
    """`app` on one event, `app.kubernetes.io/name` on another: with dynamic object mapping the
    second would be rejected (`app` is already a keyword). Flattened takes both, and many
    distinct keys add no mapping fields."""
    prefix, stats = prefix_of(es_prefix), Stats()
    sink = _sink(es_client, prefix, tmp_path, stats)
    many = {f"team{i}.example.com/key{i}": "v" for i in range(1200)}  # over total_fields.limit (1000)
    labelled = [
        {"app": "web"},
        {"app.kubernetes.io/name": "web", "app.kubernetes.io/part-of": "shop"},
        {"app": "api", "app.kubernetes.io/name": "api"},
        many,
    ]
    for i, labels in enumerate(labelled):
        obj = event(name=f"lab{i}")
        obj["metadata"]["labels"] = labels
        sink.put(rec(obj))
    wait_for(lambda: _written(stats) == len(labelled), timeout=30, what="labelled events written")
    sink.stop(5)
    assert stats.total("docs_rejected") == 0 and stats.total("docs_indexed") == 4
    alias = f"{prefix}-events"
    es_client.indices.refresh(index=alias)

    def hits(field, value):
        return es_client.count(index=alias, query={"term": {field: value}})["count"]

    assert hits("labels.app", "web") == 1
    assert hits("labels.app.kubernetes.io/name", "web") == 1
    assert hits("labels.app.kubernetes.io/name", "api") == 1 and hits("labels.app", "api") == 1
    assert hits("labels.team7.example.com/key7", "v") == 1
    (index,) = es_client.indices.get_alias(name=alias)
    props = es_client.indices.get_mapping(index=index)[index]["mappings"]["properties"]
    assert props["labels"] == {"type": "flattened", "ignore_above": 1024}


def test_daily_indices_by_event_time_behind_one_alias(es_client, es_prefix, tmp_path):
    prefix, stats = prefix_of(es_prefix), Stats()
    sink = _sink(es_client, prefix, tmp_path, stats)
    for r in events(3, spread_seconds=86400):  # T0, T0+1d, T0+2d
        sink.put(r)
    wait_for(lambda: _written(stats) == 3, timeout=30, what="3 events written")
    sink.stop(5)
    indices = sorted(es_client.indices.get_alias(name=f"{prefix}-events"))
    assert indices == [f"{prefix}-events-2026.11.{d}" for d in (20, 21, 22)]
