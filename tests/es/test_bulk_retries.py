"""BulkSender's outcome table, against a local HTTP server speaking the `_bulk` protocol:
429/5xx retried with backoff, 409 is success, 4xx rejected once, nothing retried forever."""
import json

import pytest
from elasticsearch import Elasticsearch
from werkzeug import Response

from tests.es.helpers import Stats
from watcher.es.bulk import BulkSender
from watcher.es.doc import Doc

HEADERS = {"X-Elastic-Product": "Elasticsearch", "Content-Type": "application/json"}


class FakeBulk:
    """Answers each `_bulk` request with the next planned reply: an HTTP status for the whole
    request, or a list of per-item statuses (the last plan repeats)."""

    def __init__(self, plans):
        self.plans = list(plans)
        self.requests: list[list[str]] = []  # the _ids sent, per request

    def __call__(self, request):
        lines = [json.loads(x) for x in request.get_data().splitlines() if x.strip()]
        ids = [next(iter(a.values()))["_id"] for a in lines[0::2]]
        self.requests.append(ids)
        plan = self.plans.pop(0) if len(self.plans) > 1 else self.plans[0]
        if isinstance(plan, int):
            body = {"error": {"type": "unavailable", "reason": "planned"}, "status": plan}
            return Response(json.dumps(body), status=plan, headers=HEADERS)
        items = []
        for _id, status in zip(ids, plan):
            item = {"_index": "i", "_id": _id, "status": status}
            if status >= 300:
                item["error"] = {"type": {409: "version_conflict_engine_exception", 429: "es_rejected_execution_exception",
                                          400: "document_parsing_exception"}.get(status, "x"), "reason": f"planned {status}"}
            items.append({"create": item})
        return Response(json.dumps({"took": 1, "errors": True, "items": items}), headers=HEADERS)


def docs(n):
    return [Doc("events", "i", f"d{i}", {"n": i}) for i in range(n)]


@pytest.fixture
def sender_for(httpserver):
    def make(plans, stats):
        fake = FakeBulk(plans)
        httpserver.expect_request("/_bulk").respond_with_handler(fake)
        client = Elasticsearch(httpserver.url_for("/"), request_timeout=5)
        naps = []
        return BulkSender(client, chunk_size=100, max_chunk_bytes=10**6, stats=stats, sleep=naps.append), fake, naps
    return make


def test_item_429_retried_with_backoff_only_for_those_items(sender_for):
    stats = Stats()
    sender, fake, naps = sender_for([[201, 429, 409], [201]], stats)
    result = sender.send(docs(3), attempts=4)
    assert result.reached and (result.indexed, result.duplicates, result.rejected) == (2, 1, 0)
    assert fake.requests == [["d0", "d1", "d2"], ["d1"]]
    assert len(naps) == 1 and 0.25 <= naps[0] <= 0.5
    assert stats.total("bulk_errors", reason="429") == 1 and stats.total("docs_duplicate") == 1


def test_whole_request_503_is_retried(sender_for):
    stats = Stats()
    sender, fake, naps = sender_for([503, 503, [201, 201]], stats)
    result = sender.send(docs(2), attempts=4)
    assert result.reached and result.indexed == 2 and len(fake.requests) == 3
    assert naps[1] > naps[0]  # exponential


def test_mapping_rejection_is_not_retried(sender_for, caplog):
    stats = Stats()
    sender, fake, naps = sender_for([[400, 201]], stats)
    result = sender.send(docs(2), attempts=4)
    assert result.reached and (result.indexed, result.rejected) == (1, 1)
    assert len(fake.requests) == 1 and naps == []
    assert stats.total("docs_rejected", reason="document_parsing_exception") == 1
    assert "planned 400" in caplog.text and "d0" in caplog.text


def test_persistent_overload_gives_up_after_attempts_and_hands_back(sender_for):
    stats = Stats()
    sender, fake, naps = sender_for([[429, 429]], stats)
    result = sender.send(docs(2), attempts=3)
    assert not result.reached and [d.id for d in result.remaining] == ["d0", "d1"]
    assert len(fake.requests) == 3 and result.rejected == 0
    assert result.error.startswith("429")


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failures_are_a_cluster_problem_not_the_documents(sender_for, status):
    sender, fake, _ = sender_for([status], Stats())
    result = sender.send(docs(2), attempts=2)
    assert len(result.remaining) == 2 and result.rejected == 0


def test_give_up_stops_retrying_early(sender_for):
    sender, fake, _ = sender_for([503], Stats())
    result = sender.send(docs(1), attempts=10, give_up=lambda: True)
    assert len(fake.requests) == 1 and len(result.remaining) == 1


def test_connection_refused_hands_everything_back():
    stats = Stats()
    client = Elasticsearch("http://127.0.0.1:9", request_timeout=1)
    sender = BulkSender(client, chunk_size=100, max_chunk_bytes=10**6, stats=stats, sleep=lambda s: None)
    result = sender.send(docs(3), attempts=2)
    assert len(result.remaining) == 3 and result.error.startswith("ConnectionError")
    assert stats.total("bulk_errors", reason="ConnectionError") == 2
