"""Routing: default route, the rule's notify list, send_resolved, unknown names, the bound,
shared robots, a failing outcome sink, and stop() with a real clock."""
from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import pytest

from notifiers import Dispatcher, Outbox
from notifiers.samples import sample_alert
from tests.notifiers.conftest import numbered_alerts, url_for, wait_for
from tests.notifiers.receivers import free_port


@pytest.fixture
def two(make_notifier: Any, wecom_rx: Any, ding_rx: Any) -> dict[str, Any]:
    return {"wecom-ops": make_notifier("wecom", wecom_rx.base, name="wecom-ops"),
            "ding-dev": make_notifier("dingtalk", ding_rx.base, name="ding-dev")}


def test_empty_notify_uses_the_default_route(two: Any, make_dispatcher: Any) -> None:
    d = make_dispatcher(two, default_route=("wecom-ops",))
    alert = sample_alert("oom")
    assert d.submit(alert) == [f"wecom-ops|{alert.id}"]


def test_rule_notify_list_picks_notifiers(two: Any, make_dispatcher: Any) -> None:
    d = make_dispatcher(two, default_route=("wecom-ops",))
    alert = replace(sample_alert("oom"), notify=("ding-dev", "wecom-ops"))
    assert d.submit(alert) == [f"ding-dev|{alert.id}", f"wecom-ops|{alert.id}"]


def test_resubmitting_does_nothing(two: Any, make_dispatcher: Any) -> None:
    d = make_dispatcher(two)
    alert = sample_alert("oom")
    d.submit(alert)
    assert d.submit(alert) == [] and d.pending() == 2


def test_send_resolved_false_skips_recoveries(make_notifier: Any, wecom_rx: Any,
                                              make_dispatcher: Any) -> None:
    d = make_dispatcher({"w": make_notifier("wecom", wecom_rx.base, name="w",
                                            send_resolved=False)})
    assert d.submit(sample_alert("oom", status="resolved")) == []
    assert len(d.submit(sample_alert("oom"))) == 1


def test_unknown_notifier_is_reported_not_fatal(two: Any, make_dispatcher: Any,
                                                outcomes: Any) -> None:
    d = make_dispatcher(two)
    assert d.submit(replace(sample_alert("oom"), notify=("nope",))) == []
    assert [(o.result, o.code) for o in outcomes] == [("failed", "unknown_notifier")]


def test_default_route_must_name_configured_notifiers(two: Any, tmp_path: Any) -> None:
    with pytest.raises(ValueError, match="nope"):
        Dispatcher(two, default_route=("nope",), outbox=Outbox(tmp_path))


def test_outbox_bound_drop_is_counted(two: Any, make_dispatcher: Any, outcomes: Any,
                                      clock: Any, tmp_path: Any) -> None:
    d = make_dispatcher(two, default_route=("wecom-ops",),
                        outbox=Outbox(tmp_path / "small", max_entries=3, clock=clock.now))
    alerts = numbered_alerts(5)
    for a in alerts:
        d.submit(a)
    dropped = outcomes.of("dropped")
    assert [o.alert_ids[0] for o in dropped] == [alerts[0].id, alerts[1].id]
    assert {o.code for o in dropped} == {"outbox_full"} and d.pending() == 3


def test_notifiers_on_the_same_robot_share_a_limiter(make_notifier: Any, wecom_rx: Any,
                                                     make_dispatcher: Any) -> None:
    a = make_notifier("wecom", wecom_rx.base, name="a")
    b = make_notifier("wecom", wecom_rx.base, name="b", msgtype="text")
    c = make_notifier("wecom", wecom_rx.base, name="c", url=url_for("wecom", wecom_rx.base,
                                                                   credential="another-robot"))
    d = make_dispatcher({"a": a, "b": b, "c": c})
    assert d.limiter("a") is d.limiter("b")
    assert d.limiter("c") is not d.limiter("a")


def test_a_failing_outcome_sink_does_not_stop_delivery(make_notifier: Any, wecom_rx: Any,
                                                       tmp_path: Any, clock: Any) -> None:
    def sink(_: Any) -> None:
        raise RuntimeError("metrics down")

    d = Dispatcher({"w": make_notifier("wecom", wecom_rx.base, name="w")}, default_route=["w"],
                   outbox=Outbox(tmp_path), clock=clock.now, on_outcome=sink,
                   monotonic=clock.monotonic, sleep=clock.sleep)
    d.start()
    for a in numbered_alerts(3):
        d.submit(a)
    wait_for(lambda: d.pending() == 0)
    d.stop(1.0)


def test_stop_interrupts_a_long_pause_with_the_real_clock(make_notifier: Any,
                                                          tmp_path: Any) -> None:
    notifier = make_notifier("wecom", f"http://127.0.0.1:{free_port()}", name="w")
    d = Dispatcher({"w": notifier}, default_route=["w"], outbox=Outbox(tmp_path))
    d.submit(sample_alert("oom"))
    d.limiter("w").pause(600)  # the dispatcher's limiters run on its (real) monotonic clock
    d.start()
    started = time.monotonic()
    assert d.stop(0.2) == 1
    assert time.monotonic() - started < 2.0
