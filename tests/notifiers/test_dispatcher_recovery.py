"""Nothing lost, nothing twice: receiver down then up, and a daemon restart with a non-empty
outbox, each deliver every alert exactly once."""
from __future__ import annotations

from typing import Any

from notifiers import Outbox
from tests.notifiers.conftest import NAME, WECOM_KEY, numbered_alerts, occurrences, wait_for
from tests.notifiers.receivers import WeComReceiver, free_port


def _once_each(rx: WeComReceiver, n: int) -> list[int]:
    return [occurrences(rx.texts(), f"burst-pod-{i:02d}") for i in range(n)]


def test_receiver_down_then_up_delivers_the_outbox_once(clock: Any, make_notifier: Any,
                                                        make_dispatcher: Any,
                                                        outcomes: Any) -> None:
    port = free_port()
    dispatcher = make_dispatcher({NAME: make_notifier(
        "wecom", name=NAME, base=f"http://127.0.0.1:{port}")})
    dispatcher.start()
    for alert in numbered_alerts(5, clock=clock):
        dispatcher.submit(alert)
    wait_for(lambda: len(outcomes.of("paused")) >= 2, what="retries used up twice")
    assert dispatcher.pending() == 5
    rx = WeComReceiver(clock, keys=(WECOM_KEY,)).start(port)
    try:
        wait_for(lambda: dispatcher.pending() == 0, what="delivery once the receiver is up")
        assert _once_each(rx, 5) == [1] * 5
        assert {o.code for o in outcomes.of("retried")} == {"connection"}
    finally:
        rx.stop()


def test_restart_with_a_non_empty_outbox_delivers_once_and_never_again(
        clock: Any, make_notifier: Any, make_dispatcher: Any, outcomes: Any, tmp_path: Any
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    alerts = numbered_alerts(3, clock=clock)
    first = make_dispatcher({NAME: make_notifier("wecom", name=NAME, base=url)},
                            outbox=Outbox(tmp_path / "ob", clock=clock.now))
    first.start()
    for alert in alerts:
        first.submit(alert)
    wait_for(lambda: outcomes.of("retried"), what="a failed attempt")
    assert first.stop(0.0) == 3  # "killed" with three undelivered

    rx = WeComReceiver(clock, keys=(WECOM_KEY,)).start(port)
    try:
        second = make_dispatcher({NAME: make_notifier("wecom", name=NAME, base=url)},
                                 outbox=Outbox(tmp_path / "ob", clock=clock.now))
        second.start()
        wait_for(lambda: second.pending() == 0, what="resend after restart")
        second.stop(1.0)
        assert _once_each(rx, 3) == [1] * 3

        third = make_dispatcher({NAME: make_notifier("wecom", name=NAME, base=url)},
                                outbox=Outbox(tmp_path / "ob", clock=clock.now))
        assert third.pending() == 0
        assert [third.submit(a) for a in alerts] == [[], [], []]  # a replay after restart
        third.start()
        third.stop(0.5)
        assert len(rx.accepted) == len(set(r.payload["markdown"]["content"]
                                           for r in rx.accepted))
        assert _once_each(rx, 3) == [1] * 3
    finally:
        rx.stop()
