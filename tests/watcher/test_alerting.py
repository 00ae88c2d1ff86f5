from dataclasses import replace
from datetime import timedelta

from notifiers import delivered_hash, sample_alert
from tests.factories import at
from watcher.alerting import (DELIVERED_ANNOTATION, MAX_PUBLISHED, AlertRouter, inherited_delivered,
                              publish_delivered)


class Monotonic:
    def __init__(self) -> None:
        self.t = 5000.0

    def __call__(self) -> float:
        return self.t


def numbered(n):
    return [replace(sample_alert("oom", now=at(i)), key=f"k{i}") for i in range(n)]


def test_leader_submits_follower_holds_then_forwards_every_held_alert():
    mono, sent, calls = Monotonic(), [], []
    router = AlertRouter(submit=sent.append, monotonic=mono, hold=timedelta(minutes=30),
                         on_leading=lambda: calls.append(("leading", list(sent))))
    early, late = numbered(2)
    router(early)  # decided long before the old leader's last renewal: it may still be queued there
    mono.t += 600
    router(late)
    assert sent == []
    assert router.became_leader(previous_renewal=at(10_000)) == 2  # renewTime plays no part
    assert sent == [early, late]
    assert calls == [("leading", [])]  # the dispatcher learns what was delivered first
    resolved = sample_alert("oom", now=at(30), status="resolved")
    router(resolved)
    assert sent == [early, late, resolved]


def test_held_alerts_expire_by_our_own_monotonic_clock_only():
    mono, sent = Monotonic(), []
    first, second = numbered(2)
    router = AlertRouter(submit=sent.append, monotonic=mono, hold=timedelta(seconds=60))
    router(first)
    mono.t += 100
    router(second)
    assert router.became_leader() == 1 and sent == [second]


def test_lost_leadership_stops_the_dispatcher_and_holds_again():
    mono, sent, calls = Monotonic(), [], []
    router = AlertRouter(submit=sent.append, monotonic=mono, on_following=lambda: calls.append("following"))
    router.became_leader()
    router.lost_leadership()
    (a,) = numbered(1)
    router(a)
    assert sent == [] and calls == ["following"] and not router.leader


def test_a_failing_on_leading_does_not_lose_the_held_alerts(caplog):
    sent = []

    def broken():
        raise RuntimeError("history down")

    router = AlertRouter(submit=sent.append, on_leading=broken)
    (a,) = numbered(1)
    router(a)
    assert router.became_leader() == 1 and sent == [a]
    assert "preparing delivery failed" in caplog.text


def test_full_hold_buffer_drops_oldest_and_says_so(caplog):
    dropped = []
    router = AlertRouter(submit=lambda a: None, monotonic=Monotonic(), max_held=2, on_dropped=dropped.append)
    alerts = numbered(3)
    for a in alerts:
        router(a)
    assert dropped == [alerts[0]] and "hold buffer full" in caplog.text


def test_published_delivered_ids_are_bounded_and_read_back():
    ids = [f"ops|rule|k{i}|1|firing" for i in range(MAX_PUBLISHED + 10)]
    annotation = publish_delivered(ids)
    assert len(annotation[DELIVERED_ANNOTATION].encode()) < 256 * 1024 // 4
    hashes = inherited_delivered(annotation)
    assert len(hashes) == MAX_PUBLISHED
    assert delivered_hash(ids[-1]) in hashes and delivered_hash(ids[0]) not in hashes  # newest kept
    assert inherited_delivered({DELIVERED_ANNOTATION: "short  x" + "y" * 40}) == frozenset()
    assert inherited_delivered(None) == frozenset()


def test_a_new_leader_passes_on_what_its_predecessor_published():
    inherited = inherited_delivered(publish_delivered(["ops|old-1", "ops|old-2"]))
    hashes = inherited_delivered(publish_delivered(["ops|new-1"], inherited))
    assert hashes == {delivered_hash(i) for i in ("ops|old-1", "ops|old-2", "ops|new-1")}
    full = [f"ops|n{i}" for i in range(MAX_PUBLISHED)]
    assert inherited_delivered(publish_delivered(full, inherited)) == {delivered_hash(i) for i in full}  # ours first
