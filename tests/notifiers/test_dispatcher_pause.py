"""DingTalk 130101 (over 20/min): the robot is blocked ~10 min. We pause that robot, queue,
do not knock again during the block, and deliver everything afterwards."""
from __future__ import annotations

from typing import Any

import pytest

from tests.notifiers.conftest import (NAME, DING_SECRET, DING_TOKEN, KEYWORD, numbered_alerts,
                                      occurrences, wait_for)
from tests.notifiers.receivers import DingRobot, DingTalkReceiver


@pytest.fixture
def blocked(clock: Any, make_notifier: Any, make_dispatcher: Any, outcomes: Any) -> Any:
    rx = DingTalkReceiver(clock, robots={DING_TOKEN: DingRobot(DING_SECRET, (KEYWORD, "恢复"))},
                          block_seconds=600).start()
    # Someone else sent too fast on this robot: it is blocked when our alerts arrive.
    rx.blocked_until[DING_TOKEN] = clock.monotonic() + 600
    block_end = clock.monotonic() + 600
    dispatcher = make_dispatcher({NAME: make_notifier("dingtalk", name=NAME, base=rx.base)})
    alerts = numbered_alerts(10, clock=clock)
    for alert in alerts:
        dispatcher.submit(alert)
    dispatcher.start()
    wait_for(lambda: dispatcher.pending() == 0, what="delivery after the block")
    yield rx, block_end, alerts
    rx.stop()


def test_130101_is_answered_once_and_the_robot_is_left_alone(blocked: Any) -> None:
    rx, _, _ = blocked
    assert rx.codes().count(130101) == 1


def test_delivery_resumes_after_the_block_without_loss(blocked: Any) -> None:
    rx, block_end, _ = blocked
    assert all(r.at >= block_end for r in rx.accepted)
    assert [occurrences(rx.texts(), f"burst-pod-{i:02d}") for i in range(10)] == [1] * 10


def test_the_pause_is_reported_as_an_outcome(blocked: Any, outcomes: Any) -> None:
    _, _, alerts = blocked
    # The outbox empties before the worker reports "sent": wait for the outcomes themselves.
    wait_for(lambda: len([i for o in outcomes.of("sent") for i in o.alert_ids]) >= len(alerts),
             what="the sent outcomes")
    paused = outcomes.of("paused")
    assert [o.code for o in paused] == ["130101"]
    sent_ids = [i for o in outcomes.of("sent") for i in o.alert_ids]
    assert sorted(sent_ids) == sorted(a.id for a in alerts)
