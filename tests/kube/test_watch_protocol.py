"""The watch loop against a scripted apiserver: resourceVersion tracking (LIST, events,
BOOKMARKs), 410 in both forms, torn and cut streams, throttling, paging, skips, stop."""
from tests.kube.fakeapi import Reply, bookmark, gone_status, line, pod, pod_list
from tests.kube.helpers import wait_until


def test_list_primes_then_watch_resumes_from_bookmarks(fake_api, rig):
    fake_api.lists.put(Reply(body=pod_list(10, pod("a", 9))))
    fake_api.watches.put(Reply(chunks=[line("ADDED", pod("b", 11)), bookmark(15)]))  # then a clean end
    r = rig().start()
    wait_until(lambda: len(fake_api.watch_requests()) >= 2, 5, "the second watch")
    first, second = fake_api.watch_requests()[:2]
    assert first["resourceVersion"] == "10" and first["allowWatchBookmarks"] == "true"
    assert 0 < int(first["timeoutSeconds"]) <= 30
    assert second["resourceVersion"] == "15"  # the bookmark's, not the last object's
    assert r.records.changes() == [("ADDED", "a", True), ("ADDED", "b", False)]
    assert r.watcher.listed.is_set() and r.stats.count("watch_events", type="BOOKMARK") == 1


def test_in_stream_410_relists_and_announces_only_the_difference(fake_api, rig):
    fake_api.lists.put(Reply(body=pod_list(10, pod("a", 5), pod("b", 6), pod("c", 7))))
    fake_api.watches.put(Reply(chunks=[line("ERROR", gone_status())]))
    fake_api.lists.put(Reply(body=pod_list(20, pod("a", 5), pod("b", 18), pod("d", 19))))
    r = rig().start()
    wait_until(lambda: len(r.records) >= 6, 5, "the relist's changes")
    assert r.records.changes(3) == [("MODIFIED", "b", False), ("ADDED", "d", False), ("DELETED", "c", False)]
    wait_until(lambda: len(fake_api.watch_requests()) >= 2, 5, "the watch after the relist")
    assert fake_api.watch_requests()[1]["resourceVersion"] == "20"
    assert r.stats.reasons("watch_relists") == {"expired": 1}
    assert len(r.records) == 6 and len(r.watcher.known) == 3


def test_http_410_when_opening_the_watch_relists(fake_api, rig):
    fake_api.lists.put(Reply(body=pod_list(10, pod("a", 5))))
    fake_api.watches.put(Reply(410, gone_status()))
    fake_api.lists.put(Reply(body=pod_list(12, pod("a", 5))))
    r = rig().start()
    wait_until(lambda: len(fake_api.watch_requests()) >= 2, 5, "the watch after the relist")
    assert fake_api.watch_requests()[1]["resourceVersion"] == "12"
    assert r.records.changes() == [("ADDED", "a", True)]  # unchanged: not announced again
    assert r.stats.reasons("watch_relists") == {"expired": 1}


def test_torn_chunks_deliver_every_event_once(fake_api, rig):
    data = b"".join(line("ADDED", pod(n, rv)) for n, rv in (("b", 11), ("c", 12), ("d", 13)))
    fake_api.lists.put(Reply(body=pod_list(10)))
    fake_api.watches.put(Reply(chunks=[data[:7], 0.05, data[7:200], data[200:-3], 0.05, data[-3:]]))
    r = rig().start()
    wait_until(lambda: len(r.records) >= 3, 5, "three events")
    assert r.records.changes() == [("ADDED", "b", False), ("ADDED", "c", False), ("ADDED", "d", False)]
    assert [x.resource_version for x in r.records.items] == ["11", "12", "13"]


def test_a_cut_stream_resumes_after_the_last_complete_event(fake_api, rig):
    half = line("ADDED", pod("c", 12))
    fake_api.lists.put(Reply(body=pod_list(10)))
    fake_api.watches.put(Reply(chunks=[line("ADDED", pod("b", 11)), half[:20]], cut=True))
    fake_api.watches.put(Reply(chunks=[half]))
    r = rig().start()
    wait_until(lambda: len(r.records) >= 2, 5, "both events")
    assert fake_api.watch_requests()[1]["resourceVersion"] == "11"
    assert r.records.changes() == [("ADDED", "b", False), ("ADDED", "c", False)]
    assert sum(r.stats.reasons("watch_reconnects").values()) == 1 and not r.stats.reasons("watch_relists")


def test_429_waits_at_least_retry_after_and_keeps_the_resource_version(fake_api, rig):
    fake_api.lists.put(Reply(body=pod_list(10)))
    fake_api.watches.put(Reply(429, {"kind": "Status", "code": 429, "reason": "TooManyRequests"},
                               headers={"Retry-After": "7"}))
    fake_api.watches.put(Reply(503, {"kind": "Status", "code": 503}))
    r = rig().start()
    wait_until(lambda: len(fake_api.watch_requests()) >= 3, 5, "two retries")
    assert r.sleeps[0] >= 7 and r.sleeps[1] < 7
    assert [q["resourceVersion"] for q in fake_api.watch_requests()[:3]] == ["10", "10", "10"]
    assert r.stats.reasons("watch_reconnects") == {"throttled": 1, "http_503": 1}


def test_an_immediately_empty_stream_is_treated_as_gone(fake_api, rig):
    fake_api.lists.put(Reply(body=pod_list(10, pod("a", 5))))
    fake_api.watches.put(Reply(chunks=[]))
    fake_api.lists.put(Reply(body=pod_list(11, pod("a", 5))))
    r = rig().start()
    wait_until(lambda: len(fake_api.list_requests()) >= 2, 5, "a relist")
    assert r.stats.reasons("watch_relists") == {"empty_stream": 1} and len(r.sleeps) == 1
    assert r.records.changes() == [("ADDED", "a", True)]


def test_lists_are_paged(fake_api, rig):
    fake_api.lists.put(Reply(body=pod_list(10, pod("a", 5), cont="tok1")))
    fake_api.lists.put(Reply(body=pod_list(10, pod("b", 6))))
    r = rig().start()
    wait_until(r.watcher.listed.is_set, 5, "the list")
    first, second = fake_api.list_requests()[:2]
    assert first["limit"] == "500" and "continue" not in first and second["continue"] == "tok1"
    assert r.records.changes() == [("ADDED", "a", True), ("ADDED", "b", True)]


def test_the_next_page_is_requested_while_this_page_is_handed_on(fake_api, rig):
    """The apiserver encodes page 2 while we normalise page 1: the two costs overlap instead of
    adding up (the backlog benchmark's LIST). The sink holds page 1's object until page 2 has
    been asked for; a pager that asks only afterwards never gets there."""
    import threading

    fake_api.lists.put(Reply(body=pod_list(10, pod("a", 5), cont="tok1")))
    fake_api.lists.put(Reply(body=pod_list(10, pod("b", 6))))
    asked_ahead = threading.Event()

    def hold_page_one(record):
        if record.name == "a" and _waited_for(lambda: len(fake_api.list_requests()) >= 2):
            asked_ahead.set()

    r = rig()
    r.records.then = hold_page_one
    r.start()
    wait_until(r.watcher.listed.is_set, 10, "the list")
    assert asked_ahead.is_set(), "page 2 was requested only after page 1 had been handed on"
    assert r.records.changes() == [("ADDED", "a", True), ("ADDED", "b", True)]


def test_a_failing_next_page_comes_after_this_page_and_the_list_starts_over(fake_api, rig):
    """The look-ahead does not change what an error does: page 1 is handed on once, the failed
    page 2 is retried by listing again (page 1 unchanged: not announced a second time)."""
    fake_api.lists.put(Reply(body=pod_list(10, pod("a", 5), cont="tok1")))
    fake_api.lists.put(Reply(500, {"kind": "Status", "code": 500, "message": "etcd busy"}))
    fake_api.lists.put(Reply(body=pod_list(11, pod("a", 5), cont="tok2")))
    fake_api.lists.put(Reply(body=pod_list(11, pod("b", 6))))
    r = rig().start()
    wait_until(r.watcher.listed.is_set, 10, "the list")
    assert [q.get("continue") for q in fake_api.list_requests()[:4]] == [None, "tok1", None, "tok2"]
    assert r.records.changes() == [("ADDED", "a", True), ("ADDED", "b", True)]
    assert r.stats.count("watch_reconnects", reason="http_500") == 1


def _waited_for(condition, seconds: float = 5.0) -> bool:
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def test_a_malformed_object_is_counted_and_the_stream_goes_on(fake_api, rig):
    bad = pod("bad", 11, status={"containerStatuses": "oops"})
    fake_api.lists.put(Reply(body=pod_list(10)))
    fake_api.watches.put(Reply(chunks=[line("MODIFIED", bad), line("ADDED", pod("ok", 12))]))
    r = rig().start()
    wait_until(lambda: len(r.records) >= 1, 5, "the good event")
    assert r.records.changes() == [("ADDED", "ok", False)]
    assert r.stats.reasons("records_skipped") == {"bad_field": 1}
    assert "uid-bad" in r.watcher.known  # remembered: a relist will not announce it as new


def test_stop_ends_a_quiet_watch_at_once(fake_api, rig):
    import time

    fake_api.lists.put(Reply(body=pod_list(10)))
    r = rig().start()
    wait_until(lambda: len(fake_api.watch_requests()) >= 1, 5, "the watch")
    t0 = time.monotonic()
    r.close()
    assert time.monotonic() - t0 < 2


def test_the_bearer_token_never_reaches_the_logs(fake_api, caplog):
    import logging
    import threading

    from kubernetes import client

    from tests.kube.helpers import Stats
    from watcher.kube import PODS, Watcher

    token = "s3cr3t-token-abcdef"
    cfg = client.Configuration(host=fake_api.url)
    cfg.api_key = {"authorization": f"Bearer {token}"}
    fake_api.lists.put(Reply(403, {"kind": "Status", "code": 403, "reason": "Forbidden",
                                   "message": 'pods is forbidden: User "x" cannot list resource "pods"'}))
    stop, stats = threading.Event(), Stats()
    w = Watcher(client.ApiClient(cfg), PODS, namespace="ns", cluster="c", sink=lambda r: None, stop=stop,
                watch_timeout=30, request_timeout=40, stats=stats, sleep=lambda s: stop.set())
    with caplog.at_level(logging.DEBUG):
        w.start()
        w.join(5)
    assert stats.reasons("watch_reconnects") == {"http_403": 1}
    assert fake_api.auth[0] == f"Bearer {token}" and "forbidden" in caplog.text.lower()
    assert token not in caplog.text
