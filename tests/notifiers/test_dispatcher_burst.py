"""50 alerts at once: no robot ever sees more than 20 requests in a rolling minute, and every
alert arrives exactly once, merged into digests instead of dropped."""
from __future__ import annotations

from typing import Any

import pytest

from tests.notifiers.conftest import NAME, DING_TOKEN, WECOM_KEY, numbered_alerts, occurrences, wait_for
from tests.notifiers.receivers import max_in_window


@pytest.fixture(params=[("wecom", "wecom_rx", WECOM_KEY), ("dingtalk", "ding_rx", DING_TOKEN)],
                ids=["wecom", "dingtalk"])
def burst(request: pytest.FixtureRequest, make_notifier: Any, make_dispatcher: Any,
          clock: Any) -> Any:
    platform, rx_name, robot = request.param
    rx = request.getfixturevalue(rx_name)
    dispatcher = make_dispatcher({NAME: make_notifier(platform, rx.base, name=NAME)})
    dispatcher.start()
    for alert in numbered_alerts(50, clock=clock):
        dispatcher.submit(alert)
    wait_for(lambda: dispatcher.pending() == 0, what="all 50 delivered")
    return rx, robot


def test_no_robot_sees_more_than_20_requests_in_any_minute(burst: Any) -> None:
    rx, robot = burst
    assert max_in_window(rx.times[robot], 60.0) <= 20
    assert set(rx.codes()) == {0}  # never 45009 / 130101


def test_every_alert_of_the_burst_arrives_exactly_once(burst: Any) -> None:
    rx, _ = burst
    texts = rx.texts()
    assert [occurrences(texts, f"burst-pod-{i:02d}") for i in range(50)] == [1] * 50


def test_a_burst_is_merged_into_digests(burst: Any) -> None:
    rx, _ = burst
    texts = rx.texts()
    assert len(texts) < 50
    assert any("【汇总】" in t for t in texts)
