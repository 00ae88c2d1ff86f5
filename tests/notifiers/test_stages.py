"""The stages (notifiers/stages.py): inhibited? → silenced? → send, judged when an entry is due.
First the pure verdicts as a table, then through the dispatcher with the fake clock: a silenced
firing is held and reported once, goes out when the silence is expired early, a resolved
during a silence settles both, inhibited targets are settled and the source says how many."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from notifiers.outbox import OutboxEntry, Settled, incident_of
from notifiers.routes import parse_matcher
from notifiers.samples import sample_alert
from notifiers.silences import Silence, Silences
from notifiers.stages import RECHECK, Facts, judge
from rules.alert import Alert
from tests.notifiers.conftest import NAME, wait_for

T0 = datetime(2024, 5, 1, 6, 0, tzinfo=timezone.utc)
FIRING = replace(sample_alert("oom", now=T0), incident="oom-1")
RESOLVED = replace(FIRING, status="resolved", at=T0 + timedelta(minutes=5))
SOURCE = replace(sample_alert("unhealthy", now=T0), incident="drop-1")


def silence(minutes: float = 120, *, start: datetime = T0, id: str = "s-1") -> Silence:
    return Silence(id=id, matchers=(parse_matcher("namespace=shop"),), starts_at=start,
                   ends_at=start + timedelta(minutes=minutes), created_by="ops", comment="扩容中",
                   created_at=start)


@dataclass
class FakeInhibitor:
    """The documented Inhibitor API, answering from a table: target alert id → source."""

    sources: dict[str, Alert] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    noted: list[tuple[str, str]] = field(default_factory=list)
    observed: list[str] = field(default_factory=list)

    def observe(self, alert: Alert) -> None:
        self.observed.append(alert.id)

    def look_ahead(self, alert: Alert) -> timedelta:
        return timedelta(0)

    def inhibitor_of(self, alert: Alert, now: datetime) -> Alert | None:
        return self.sources.get(alert.id)

    def inhibited_count(self, source: Alert) -> int:
        return self.counts.get(source.id, 0)

    def note(self, source: Alert, target: Alert) -> None:
        self.noted.append((source.id, target.id))


def entry(alert: Alert, step: int = 0) -> OutboxEntry:
    return OutboxEntry(f"{NAME}|{alert.id}", NAME, alert, 1, T0, step=step)


SENT = Settled(T0.timestamp(), NAME, "", "", "firing", "sent")
UNSENT = Settled(T0.timestamp(), NAME, "", "", "firing", "silenced")
NOW = T0 + timedelta(minutes=10)


@pytest.mark.parametrize("what, e, silences, inhibitor, facts, expected", [
    ("nothing applies: send", entry(FIRING), Silences(), None, Facts(), ("send", None, "")),
    ("silenced firing: held, re-judged within 30 s", entry(FIRING), Silences([silence()]), None, Facts(),
     ("hold", "silenced", "s-1")),
    ("silence ended: send", entry(FIRING), Silences([silence(5)]), None, Facts(), ("send", None, "")),
    ("silenced firing, its incident resolved: settled", entry(FIRING), Silences([silence()]), None,
     Facts(resolved=True), ("settle", "silenced", "s-1")),
    ("silenced resolved, firing unsent: settled", entry(RESOLVED), Silences([silence()]), None,
     Facts(None, ("f",)), ("settle", "silenced", "s-1")),
    ("silenced resolved, firing sent: send", entry(RESOLVED), Silences([silence()]), None, Facts(SENT),
     ("send", None, "")),
    ("resolved after a silenced firing, silence over: settled", entry(RESOLVED), Silences(), None,
     Facts(UNSENT), ("settle", "silenced", "firing_not_sent")),
    ("resolved after a firing settled silenced: the firing's silence id", entry(RESOLVED), Silences(), None,
     Facts(replace(UNSENT, code="s-1")), ("settle", "silenced", "s-1")),
    ("inhibited before silenced", entry(FIRING), Silences([silence()]), FakeInhibitor({FIRING.id: SOURCE}),
     Facts(), ("settle", "inhibited", SOURCE.id)),
    ("silenced escalation step: settled", entry(FIRING, step=1), Silences([silence()]), None, Facts(),
     ("settle", "silenced", "s-1")),
])
def test_verdicts(what: str, e: OutboxEntry, silences: Any, inhibitor: Any, facts: Facts,
                  expected: tuple[str, Any, str]) -> None:
    v = judge(e, NOW, silences=silences, inhibitor=inhibitor, facts=facts)
    assert (v.action, v.result, v.code) == expected, what
    if v.action == "hold":
        assert v.until == NOW + RECHECK
    if expected[:2] == ("settle", "silenced") and e.alert.status == "resolved" and facts.held_firings:
        assert v.also == facts.held_firings


def test_a_source_is_sent_with_how_many_it_inhibited() -> None:
    v = judge(entry(SOURCE), NOW, silences=None, inhibitor=FakeInhibitor(counts={SOURCE.id: 2}))
    assert (v.action, v.fields) == ("send", {"inhibited": 2})


# -- through the dispatcher ---------------------------------------------------------------------

class Switch:
    """A silences provider whose snapshot the test (or the fake time) changes."""

    def __init__(self, clock: Any, *silences: Silence, expire_at: datetime | None = None) -> None:
        self.clock, self.silences, self.expire_at = clock, list(silences), expire_at

    def __call__(self) -> Silences:
        now = self.clock.now()
        if self.expire_at is not None and now >= self.expire_at:
            return Silences(s.expired(self.expire_at) for s in self.silences)
        return Silences(self.silences)


@pytest.fixture
def rig(make_notifier: Any, wecom_rx: Any, clock: Any, outcomes: Any, tmp_path: Any) -> Any:
    from notifiers import Dispatcher, Outbox
    made: list[Any] = []

    def make(**kw: Any) -> Any:
        d = Dispatcher({NAME: make_notifier("wecom", wecom_rx.base, name=NAME)}, default_route=(NAME,),
                       outbox=Outbox(tmp_path / "ob", clock=clock.now), clock=clock.now, on_outcome=outcomes,
                       monotonic=clock.monotonic, sleep=clock.sleep, **kw)
        made.append(d)
        return d
    yield make
    for d in made:
        d.stop(0.0)


def alerts(clock: Any) -> tuple[Alert, Alert]:
    firing = replace(sample_alert("oom", now=clock.now()), incident="oom-1")
    return firing, replace(firing, status="resolved", at=clock.now() + timedelta(seconds=10))


def test_a_silenced_firing_is_held_reported_once_and_sent_when_the_silence_ends(
        rig: Any, clock: Any, wecom_rx: Any, outcomes: Any) -> None:
    s = silence(start=clock.now(), minutes=120)
    d = rig(silences=Switch(clock, s))
    firing, _ = alerts(clock)
    d.submit(firing)
    d.start()
    wait_for(lambda: d.pending() == 0, what="sent after the silence")
    assert [(o.result, o.code) for o in outcomes if o.result == "silenced"] == [("silenced", s.id)]
    assert len(wecom_rx.accepted) == 1 and wecom_rx.accepted[0].at >= 10_000 + 7200


def test_a_silence_expired_early_lets_the_firing_out_within_30_s(rig: Any, clock: Any, wecom_rx: Any) -> None:
    s = silence(start=clock.now(), minutes=120)
    d = rig(silences=Switch(clock, s, expire_at=clock.now() + timedelta(minutes=3)))
    firing, _ = alerts(clock)
    d.submit(firing)
    d.start()
    wait_for(lambda: d.pending() == 0, what="sent after the early expiry")
    assert 10_000 + 180 <= wecom_rx.accepted[0].at <= 10_000 + 180 + 30


def test_a_resolved_of_an_unsent_firing_settles_both_silenced(rig: Any, clock: Any, wecom_rx: Any,
                                                              outcomes: Any, tmp_path: Any) -> None:
    s = silence(start=clock.now(), minutes=120)
    d = rig(silences=Switch(clock, s))
    firing, resolved = alerts(clock)
    d.submit(firing)
    clock.advance(10)
    d.submit(resolved)
    d.start()
    wait_for(lambda: d.pending() == 0, what="both settled")
    assert wecom_rx.accepted == []
    silenced = {(o.alert_ids, o.code) for o in outcomes.of("silenced")}
    assert silenced == {((firing.id,), s.id), ((resolved.id,), s.id)}  # the firing counted once
    from notifiers import Outbox
    box = Outbox(tmp_path / "ob", clock=clock.now)
    assert box.is_confirmed(f"{NAME}|{firing.id}")
    assert box.firing_settled(NAME, incident_of(firing)).result == "silenced"  # type: ignore[union-attr]


def test_a_resolved_of_a_sent_firing_is_sent_during_a_silence(rig: Any, clock: Any, wecom_rx: Any) -> None:
    switch = Switch(clock)
    d = rig(silences=switch)
    firing, resolved = alerts(clock)
    d.start()
    d.submit(firing)
    wait_for(lambda: d.pending() == 0, what="firing sent")
    switch.silences.append(silence(start=clock.now(), minutes=120))
    d.submit(resolved)
    wait_for(lambda: d.pending() == 0, what="resolved sent")
    assert len(wecom_rx.accepted) == 2


def test_an_inhibited_target_is_settled_and_the_source_says_how_many(
        rig: Any, clock: Any, wecom_rx: Any, outcomes: Any) -> None:
    firing, _ = alerts(clock)
    source = replace(sample_alert("unhealthy", now=clock.now()), incident="drop-1")
    inhibitor = FakeInhibitor({firing.id: source})
    d = rig(inhibitor=inhibitor)
    d.submit(firing)
    d.start()
    wait_for(lambda: d.pending() == 0, what="target settled")
    assert [(o.alert_ids, o.code) for o in outcomes.of("inhibited")] == [((firing.id,), source.id)]
    assert inhibitor.noted == [(source.id, firing.id)] and inhibitor.observed == [firing.id]
    inhibitor.counts[source.id] = len(inhibitor.noted)
    d.submit(source)
    wait_for(lambda: d.pending() == 0, what="source sent")
    [text] = wecom_rx.texts()
    assert "已抑制" in text and "1 条相关告警" in text


def test_a_failing_silence_store_is_logged_once_and_alerts_still_go_out(
        rig: Any, clock: Any, wecom_rx: Any, caplog: Any) -> None:
    def broken() -> Silences:
        raise OSError("silences.json: I/O error")
    d = rig(silences=broken)
    d.start()
    for alert in (replace(sample_alert("oom", now=clock.now()), incident=f"i{i}") for i in range(3)):
        d.submit(alert)
    wait_for(lambda: d.pending() == 0, what="sent unsilenced")
    assert len(wecom_rx.accepted) >= 1
    assert sum("silences unavailable" in r.getMessage() for r in caplog.records) == 1


def test_a_silenced_firing_whose_incident_resolved_is_never_sent_even_without_send_resolved(
        make_notifier: Any, wecom_rx: Any, clock: Any, outcomes: Any, tmp_path: Any) -> None:
    from notifiers import Dispatcher, Outbox
    s = silence(start=clock.now(), minutes=120)
    d = Dispatcher({NAME: make_notifier("wecom", wecom_rx.base, name=NAME, send_resolved=False)},
                   default_route=(NAME,), outbox=Outbox(tmp_path / "ob", clock=clock.now), clock=clock.now,
                   on_outcome=outcomes, monotonic=clock.monotonic, sleep=clock.sleep, silences=Switch(clock, s))
    firing, resolved = alerts(clock)
    d.submit(firing)
    clock.advance(10)
    d.submit(resolved)  # not written for this notifier: it sends no 【恢复】
    d.start()
    try:
        wait_for(lambda: d.pending() == 0, what="the firing settled")
    finally:
        d.stop(0.0)
    assert wecom_rx.accepted == []  # the silence ended with the incident over: nothing to say
    assert [o.alert_ids for o in outcomes.of("silenced")] == [(firing.id,)]


def test_a_restart_during_a_silence_does_not_report_it_again(
        make_notifier: Any, wecom_rx: Any, clock: Any, outcomes: Any, tmp_path: Any) -> None:
    from notifiers import Dispatcher, Outbox
    s = silence(start=clock.now(), minutes=60 * 24 * 1000)

    def daemon(silences: Any) -> Any:
        return Dispatcher({NAME: make_notifier("wecom", wecom_rx.base, name=NAME)}, default_route=(NAME,),
                          outbox=Outbox(tmp_path / "ob", clock=clock.now), clock=clock.now, on_outcome=outcomes,
                          monotonic=clock.monotonic, sleep=clock.sleep, silences=silences)
    first = daemon(Switch(clock, s))
    first.submit(alerts(clock)[0])
    first.start()
    wait_for(lambda: outcomes.of("silenced"), what="held and reported")
    assert first.stop(0.0) == 1
    second = daemon(Switch(clock, s, expire_at=clock.now() + timedelta(minutes=1)))
    second.start()
    try:
        wait_for(lambda: second.pending() == 0, what="sent once the silence is expired")
    finally:
        second.stop(0.0)
    assert len(outcomes.of("silenced")) == 1 and len(outcomes.of("sent")) == 1
