"""The same searches against both stores (see conftest.py): filters, words, time, collapsing an
Event's count bumps into one row, order, limit, detail, and the same ids as the ES documents."""
from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.factories import at, endpoint_slice, event, oom, pod, rec
from watcher.search.query import Query, build_query

UTC8 = ZoneInfo("Asia/Shanghai")


def q(kind="events", **kw) -> Query:
    """A query over the whole test day unless a range is given."""
    kw.setdefault("start", at(-3600))
    kw.setdefault("end", at(86400))
    return Query(kind=kind, **kw)


def ids(docs) -> list[str]:
    return [d["_id"] for d in docs]


def cluster_events():
    """Four Events: a Warning that repeats (count 1→3), a Normal one, one in another namespace,
    one with a Chinese message; all 10 minutes apart except the repeats."""
    return [
        rec(event("web.1", reason="BackOff", count=1, last=0, message="Back-off restarting failed container app")),
        rec(event("web.1", reason="BackOff", count=2, last=60, message="Back-off restarting failed container app")),
        rec(event("web.1", reason="BackOff", count=3, last=120, message="Back-off restarting failed container app")),
        rec(event("web.2", reason="Pulled", type_="Normal", last=600, message='Container image "nginx:1.27" already present')),
        rec(event("db.1", ns="db", reason="FailedMount", last=1200, involved="data-0",
                  message='MountVolume.SetUp failed for volume "pvc-3f2a" : mount failed: exit status 32')),
        rec(event("pay.1", reason="Unhealthy", last=1800, involved="pay-7c9f8",
                  message="就绪探针失败: HTTP 503 from 172.16.2.17:8080")),
    ]


def test_an_events_count_bumps_are_one_row_its_newest_document(history):
    history.write(cluster_events())
    docs = history.store.search(q())
    assert ids(docs) == ["uid-pay.1:1", "uid-db.1:1", "uid-web.2:1", "uid-web.1:3"]
    assert docs[-1]["count"] == 3 and docs[-1]["last_timestamp"].startswith("2026-11-20T02:02:00")


@pytest.mark.parametrize(("level", "expected"), [
    ("Warning", ["uid-pay.1:1", "uid-db.1:1", "uid-web.1:3"]),
    ("Normal", ["uid-web.2:1"]),
    ("all", ["uid-pay.1:1", "uid-db.1:1", "uid-web.2:1", "uid-web.1:3"]),
])
def test_level_filters_the_event_type(history, level, expected):
    history.write(cluster_events())
    assert ids(history.store.search(q(level=level))) == expected


def test_namespace_reason_and_object_filters(history):
    history.write(cluster_events())
    assert ids(history.store.search(q(namespace="db"))) == ["uid-db.1:1"]
    assert ids(history.store.search(q(reason="BackOff"))) == ["uid-web.1:3"]
    assert ids(history.store.search(q(object_kind="Pod", object_name="data-0"))) == ["uid-db.1:1"]
    assert ids(history.store.search(q(object_name="pay-7c9f8"))) == ["uid-pay.1:1"]
    assert ids(history.store.search(q(object_kind="Node", object_name="data-0"))) == []


@pytest.mark.parametrize(("words", "expected"), [
    (("back-off",), ["uid-web.1:3"]),              # any case, punctuation as typed
    (("MOUNT", "pvc-3f2a"), ["uid-db.1:1"]),        # every word must occur
    (("mount", "nginx"), []),
    (("探针失败",), ["uid-pay.1:1"]),                # Chinese text, no word boundaries
    (("172.16.2.17",), ["uid-pay.1:1"]),            # an address as typed
    (("unhealthy",), ["uid-pay.1:1"]),              # the reason is searched too
    (("data-0",), ["uid-db.1:1"]),                  # and the involved object's name
    (("*",), []),                                   # wildcards are plain characters
])
def test_words_match_as_substrings_ignoring_case(history, words, expected):
    history.write(cluster_events())
    assert ids(history.store.search(q(words=words))) == expected


def test_the_time_range_is_on_the_last_occurrence(history):
    history.write(cluster_events())
    assert ids(history.store.search(q(start=at(500), end=at(1300)))) == ["uid-db.1:1", "uid-web.2:1"]
    # web.1's newest document is at 120s; its earlier counts fall in the range, so it shows as count 2
    assert ids(history.store.search(q(start=at(0), end=at(90)))) == ["uid-web.1:2"]
    assert ids(history.store.search(q(start=at(1801)))) == []


def test_newest_first_and_at_most_limit(history):
    history.write([rec(event(f"e.{i}", last=i * 10, message=f"m{i}")) for i in range(30)])
    docs = history.store.search(q(limit=5))
    assert ids(docs) == [f"uid-e.{i}:1" for i in (29, 28, 27, 26, 25)]


def test_rows_of_the_same_second_come_in_the_same_order(history):
    history.write([rec(event(f"same.{c}", last=5, message="tie")) for c in "dbca"])
    assert ids(history.store.search(q())) == ["uid-same.d:1", "uid-same.c:1", "uid-same.b:1", "uid-same.a:1"]


def test_writing_the_same_records_again_stores_nothing_twice(history):
    records = cluster_events()
    for r in records:
        history.writer.put(r, None)
    history.write(records)
    assert len(history.store.search(q())) == 4
    assert len(history.store.search(q(words=("back-off",)))) == 1


def test_detail_returns_the_whole_document(history):
    history.write(cluster_events())
    doc = history.store.get("events", "uid-web.1:2")
    assert doc["_id"] == "uid-web.1:2" and doc["count"] == 2 and doc["reason"] == "BackOff"
    assert doc["event_uid"] == "uid-web.1" and doc["node"] == "node-1" and doc["reporting_component"] == "kubelet"
    assert history.store.get("events", "uid-nope:1") is None
    assert history.store.get("terminations", "uid-web.1:2") is None


def terminations():
    return [
        rec(pod("web-6d8f7c9b4-k7m2p", restarts=1, last=oom(100))),
        rec(pod("web-6d8f7c9b4-x1y2z", restarts=1, last=oom(200, code=1, reason="Error"))),
        rec(pod("batch-0", ns="jobs", restarts=1, rs=None, labels={"app": "batch"}, last=oom(300))),
    ]


def test_terminations_filter_by_reason_pod_and_workload(history):
    history.write(terminations())
    docs = history.store.search(q("terminations"))
    assert [d["pod"] for d in docs] == ["batch-0", "web-6d8f7c9b4-x1y2z", "web-6d8f7c9b4-k7m2p"]
    assert [d["pod"] for d in history.store.search(q("terminations", reason="OOMKilled"))] == [
        "batch-0", "web-6d8f7c9b4-k7m2p"]
    assert [d["pod"] for d in history.store.search(q("terminations", object_kind="Deployment", object_name="web"))] == [
        "web-6d8f7c9b4-x1y2z", "web-6d8f7c9b4-k7m2p"]
    assert [d["pod"] for d in history.store.search(q("terminations", object_name="batch-0"))] == ["batch-0"]
    assert [d["pod"] for d in history.store.search(q("terminations", words=("oomkilled", "app")))] == [
        "batch-0", "web-6d8f7c9b4-k7m2p"]
    (first,) = history.store.search(q("terminations", namespace="jobs"))
    assert history.store.get("terminations", first["_id"])["exit_code"] == 137


def test_endpoint_changes_by_service(history):
    history.write([
        rec(endpoint_slice([True, True], change=0)),
        rec(endpoint_slice([True, False], change=60)),
        rec(endpoint_slice([True], service="api", change=90)),
        rec(endpoint_slice([True, True], change=120)),
    ])
    assert [(d["service"], d["change"]) for d in history.store.search(q("endpoints"))] == [
        ("web", "improved"), ("api", "initial"), ("web", "degraded"), ("web", "initial")]
    assert [d["change"] for d in history.store.search(q("endpoints", object_name="api"))] == ["initial"]
    assert [d["ready"] for d in history.store.search(q("endpoints", words=("degraded",)))] == [1]


def test_build_query_defaults_to_the_last_week_in_the_config_time_zone():
    now = at(0)
    assert build_query(now=now, tz=UTC8) == Query(start=now - timedelta(weeks=1))
    got = build_query(start="2026-11-20", end="2026-11-20", now=now, tz=UTC8)
    assert (got.start.isoformat(), got.end.isoformat()) == (
        "2026-11-19T16:00:00+00:00", "2026-11-20T15:59:59.999999+00:00")
    assert build_query("terminations", obj="Deployment/web", now=now, tz=UTC8).filters() == [
        ("workload_kind", "Deployment"), ("workload_name", "web")]
