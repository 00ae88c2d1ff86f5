"""Records → documents: ids, indices, fields (pure, no Elasticsearch)."""
from tests.es.helpers import FIXED_NOW, Stats, fixed_clock
from tests.factories import at, event, oom, pod, rec
from watcher.es.doc import Doc
from watcher.es.documents import Documenter, event_doc, parse_quantity, termination_docs


def test_event_doc_id_index_and_fields():
    r = rec(event(name="web.1", count=3, last=86400 + 5, first=10, reason="BackOff"), cluster="prod")
    d = event_doc(r, prefix="kea", now=FIXED_NOW)
    assert d.id == "uid-web.1:3" and d.op == "create" and d.kind == "events"
    # indexed by the event's own time (T0 + 1 day), not by "now"
    assert d.index == "kea-events-2026.11.21"
    s = d.source
    assert s["@timestamp"] == at(86405).isoformat() and s["cluster"] == "prod"
    assert (s["reason"], s["type"], s["count"], s["kind"], s["name"], s["namespace"]) == (
        "BackOff", "Warning", 3, "Pod", "web-6d8f7c9b4-k7m2p", "shop")
    assert (s["node"], s["reporting_component"], s["event_name"], s["event_uid"]) == ("node-1", "kubelet", "web.1", "uid-web.1")
    assert s["first_timestamp"] == at(10).isoformat()


def test_each_count_bump_is_its_own_document_and_a_repeat_is_the_same():
    ids = [event_doc(rec(event(count=c, last=c)), prefix="kea", now=FIXED_NOW).id for c in (1, 2, 2, 3)]
    assert ids == ["uid-web.1:1", "uid-web.1:2", "uid-web.1:2", "uid-web.1:3"]


def test_listed_records_are_persisted_too():
    d = event_doc(rec(event(), listed=True), prefix="kea", now=FIXED_NOW)
    assert d is not None and d.source["listed"] is True


def test_event_without_time_uses_the_clock_for_timestamp_and_index():
    obj = event()
    del obj["firstTimestamp"], obj["lastTimestamp"]
    d = event_doc(rec(obj), prefix="kea", now=FIXED_NOW)
    assert d.source["@timestamp"] == FIXED_NOW.isoformat() and d.index == "kea-events-2026.11.21"


def test_termination_doc_oom_and_fields():
    r = rec(pod(restarts=1, last=oom(100), limit="256Mi"))
    (d,) = termination_docs(r, prefix="kea", now=FIXED_NOW)
    assert d.kind == "terminations" and d.index == "kea-terminations-2026.11.20"
    assert d.id == f"uid-web-6d8f7c9b4-k7m2p/app/{at(100).isoformat()}/containerd://100"
    s = d.source
    assert s["oom"] is True and s["reason"] == "OOMKilled" and s["exit_code"] == 137
    assert (s["restart_count"], s["memory_limit"], s["memory_limit_bytes"]) == (1, "256Mi", 256 * 2**20)
    assert (s["workload"], s["node"], s["container"], s["state"]) == ("Deployment/web", "node-1", "app", "last_terminated")
    assert s["@timestamp"] == at(100).isoformat()


def test_non_oom_termination_has_oom_false():
    (d,) = termination_docs(rec(pod(restarts=1, last=oom(100, code=1, reason="Error"))), prefix="kea", now=FIXED_NOW)
    assert d.source["oom"] is False and d.source["exit_code"] == 1


def test_same_termination_in_state_then_last_state_is_one_document():
    doc = Documenter(prefix="kea", clock=fixed_clock)
    first = doc.documents(rec(pod(restarts=0, terminated=oom(100))))
    later = doc.documents(rec(pod(restarts=1, last=oom(100))))
    again = doc.documents(rec(pod(restarts=1, last=oom(100), ready=False)))
    assert len(first) == 1 and later == [] and again == []
    # and the id alone would have deduplicated it in ES too
    assert termination_docs(rec(pod(restarts=1, last=oom(100))), prefix="kea", now=FIXED_NOW)[0].id == first[0].id
    new = doc.documents(rec(pod(restarts=2, last=oom(400))))
    assert len(new) == 1 and new[0].id != first[0].id


def test_running_pod_has_no_termination_docs():
    assert Documenter(prefix="kea", clock=fixed_clock).documents(rec(pod())) == []


def test_parse_quantity():
    assert [parse_quantity(q) for q in ("512Mi", "1Gi", "1G", "1e3", "100", "", "12Zi")] == [
        512 * 2**20, 2**30, 10**9, 1000, 100, None, None]


def test_doc_line_round_trip():
    d = Doc("alerts", "kea-alerts", "a|b", {"x": [1, "é"], "y": None}, op="index", version=7)
    assert Doc.from_line(d.to_line()) == d and d.to_line().endswith(b"\n")
    assert d.action() == {"_op_type": "index", "_index": "kea-alerts", "_id": "a|b", "_source": d.source,
                          "version": 7, "version_type": "external"}


def test_an_oomkilled_ephemeral_container_gets_a_termination_doc():
    obj = pod()
    obj["spec"]["ephemeralContainers"] = [{"name": "debugger", "image": "busybox"}]
    obj["status"]["ephemeralContainerStatuses"] = [{"name": "debugger", "restartCount": 0,
                                                    "state": {"terminated": oom(100)}}]
    (d,) = termination_docs(rec(obj), prefix="kea", now=FIXED_NOW)
    assert (d.source["container"], d.source["ephemeral"], d.source["init"], d.source["oom"]) == (
        "debugger", True, False, True)


# -- dating documents against retention ------------------------------------------------------
# FIXED_NOW is 2026-11-21 12:00 UTC; with 30 days the oldest kept day is 2026-10-22.

def _terminated_at(when: str) -> dict:
    return pod(restarts=1, last={**oom(100), "finishedAt": when})


def test_a_termination_older_than_retention_is_not_written_but_counted(caplog):
    stats = Stats()
    doc = Documenter(prefix="kea", clock=fixed_clock, retention_days=30, stats=stats)
    with caplog.at_level("DEBUG", logger="kea.es"):
        assert doc.documents(rec(_terminated_at("2025-01-03T10:00:00Z"))) == []
    assert stats.counters == {("docs_skipped", (("index_kind", "terminations"), ("reason", "older_than_retention"))): 1}
    assert "older than retention" in caplog.text
    # the oldest day retention keeps is still written, to its own day
    (kept,) = doc.documents(rec(_terminated_at("2026-10-22T00:00:01Z")))
    assert kept.index == "kea-terminations-2026.10.22"


def test_an_old_event_is_not_written_either():
    doc = Documenter(prefix="kea", clock=fixed_clock, retention_days=30)
    obj = event(last=0)
    obj["firstTimestamp"] = obj["lastTimestamp"] = "2025-01-03T10:00:00Z"
    assert doc.documents(rec(obj)) == []


def test_a_future_dated_document_goes_to_todays_index():
    doc = Documenter(prefix="kea", clock=fixed_clock, retention_days=30)
    (d,) = doc.documents(rec(_terminated_at("2031-05-01T00:00:00Z")))
    assert d.index == "kea-terminations-2026.11.21"
    assert d.source["finished_at"] == "2031-05-01T00:00:00+00:00"  # the object's own time is kept
    # within the skew (a day ahead) it keeps its own day
    (d,) = doc.documents(rec(_terminated_at("2026-11-22T11:00:00Z")))
    assert d.index == "kea-terminations-2026.11.22"


def test_zero_retention_writes_old_documents_to_their_day():
    (d,) = Documenter(prefix="kea", clock=fixed_clock, retention_days=0).documents(
        rec(_terminated_at("2025-01-03T10:00:00Z")))
    assert d.index == "kea-terminations-2025.01.03"
