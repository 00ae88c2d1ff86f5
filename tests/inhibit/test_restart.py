"""Inhibition across a restart: the inhibitor's sources are kept in `data_dir`, so an OOM held
for its look-ahead is still absorbed by the endpoints alert that fired before the restart, and
a NotReady node still inhibits its pods' alerts for its window (dispatcher, fake clock)."""
from __future__ import annotations

from typing import Any

import pytest

from notifiers import Dispatcher, Outbox
from notifiers.inhibition import Inhibitor, parse_inhibit_rules
from tests.inhibit.helpers import T0, node_not_ready, oom, unhealthy
from tests.notifiers.conftest import NAME, make_notifier, outcomes, wait_for, wecom_rx  # noqa: F401 - fixtures
from tests.notifiers.receivers import FakeClock
from watcher.inhibition_state import durable_inhibitor


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=T0)


@pytest.fixture
def daemon(make_notifier: Any, wecom_rx: Any, clock: FakeClock, outcomes: Any, tmp_path: Any) -> Any:
    """One process's dispatcher over `tmp_path` (its data_dir): built as assembly builds it."""
    made: list[Dispatcher] = []

    def make() -> Dispatcher:
        inhibitor = durable_inhibitor(Inhibitor(parse_inhibit_rules(None, builtin=True)), tmp_path)
        d = Dispatcher({NAME: make_notifier("wecom", wecom_rx.base, name=NAME)}, default_route=(NAME,),
                       outbox=Outbox(tmp_path / "outbox", clock=clock.now), clock=clock.now, on_outcome=outcomes,
                       monotonic=clock.monotonic, sleep=clock.sleep, inhibitor=inhibitor)
        made.append(d)
        return d
    yield make
    for d in made:
        d.stop(0.0)


def test_an_oom_held_across_a_restart_is_still_absorbed_by_the_drop(daemon: Any, clock: FakeClock,
                                                                     wecom_rx: Any, outcomes: Any) -> None:
    first = daemon()
    target = oom(t=0)
    first.submit(target)            # held for the endpoints rule's look-ahead
    clock.advance(30)
    source = unhealthy(t=30)
    first.submit(source)
    # killed before the OOM is due: nothing sent yet, both entries in the outbox
    second = daemon()
    second.start()
    wait_for(lambda: second.pending() == 0, what="both judged after the restart")
    assert len(wecom_rx.accepted) == 1, wecom_rx.texts()
    assert "应用不健康" in wecom_rx.texts()[0]
    assert [(o.alert_ids, o.code) for o in outcomes.of("inhibited")] == [((target.id,), source.id)]
    assert [o.alert_ids for o in outcomes.of("sent")] == [(source.id,)]


def test_a_not_ready_node_still_inhibits_its_pods_after_a_restart(daemon: Any, clock: FakeClock,
                                                                  wecom_rx: Any, outcomes: Any) -> None:
    first = daemon()
    node = node_not_ready(t=0)
    first.submit(node)
    first.start()
    wait_for(lambda: first.pending() == 0, what="the node card sent")
    first.stop(0.0)
    clock.advance(60)
    second = daemon()
    second.start()
    target = oom(t=clock.now().timestamp() - T0.timestamp(), backs_service=False)
    second.submit(target)
    wait_for(lambda: second.pending() == 0, what="the pod's OOM judged")
    assert len(wecom_rx.accepted) == 1, wecom_rx.texts()
    assert [(o.alert_ids, o.code) for o in outcomes.of("inhibited")] == [((target.id,), node.id)]


def test_the_state_keeps_a_sources_count_and_a_bad_file_starts_empty(tmp_path: Any, caplog: Any) -> None:
    rules = parse_inhibit_rules(None, builtin=True)
    node, target = node_not_ready(t=0), oom(t=5, backs_service=False)
    first = durable_inhibitor(Inhibitor(rules), tmp_path)
    first.observe(node)
    first.observe(target)  # covered already: counted for the node
    again = durable_inhibitor(Inhibitor(rules), tmp_path)
    assert again.inhibitor_of(target, target.at) == node and again.inhibited_count(node) == 1
    (tmp_path / "inhibition.json").write_text('{"v": 1, "sources": [{"rule": "x"}]}')
    empty = durable_inhibitor(Inhibitor(rules), tmp_path)
    assert empty.inhibitor_of(target, target.at) is None
    assert "inhibition.json not restored" in caplog.text
