"""The dispatcher routes through the routing tree (notifiers/routes.py): each team's namespace
to its robot, a rule's own `notify` first, muted routes and alerts with no route reported."""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from notifiers.routes import parse_routes
from notifiers.samples import sample_alert


@pytest.fixture
def two(make_notifier: Any, wecom_rx: Any, ding_rx: Any) -> dict[str, Any]:
    return {"pay-wecom": make_notifier("wecom", wecom_rx.base, name="pay-wecom"),
            "web-ding": make_notifier("dingtalk", ding_rx.base, name="web-ding")}


TREE = [
    {"matchers": ["namespace=pay-*"], "notify": ["pay-wecom"]},
    {"matchers": ["namespace=web"], "notify": ["web-ding"],
     "routes": [{"matchers": ["severity=info"], "mute_time_intervals": ["always"]}]},
]


def routes(default: tuple[str, ...] = ()) -> Any:
    return parse_routes(default, TREE, {"always": [{"weekdays": ["sunday:saturday"]}]},
                        robots=["pay-wecom", "web-ding"], timezone="Asia/Shanghai")


def test_each_teams_namespace_goes_to_its_robot(two: Any, make_dispatcher: Any) -> None:
    d = make_dispatcher(two, default_route=(), routes=routes())
    pay = replace(sample_alert("oom"), namespace="pay-prod")
    web = replace(sample_alert("unhealthy"), namespace="web")
    assert d.submit(pay) == [f"pay-wecom|{pay.id}"]
    assert d.submit(web) == [f"web-ding|{web.id}"]


def test_a_rules_own_notify_wins_over_the_tree(two: Any, make_dispatcher: Any) -> None:
    d = make_dispatcher(two, default_route=(), routes=routes())
    alert = replace(sample_alert("oom"), namespace="pay-prod", notify=("web-ding",))
    assert d.submit(alert) == [f"web-ding|{alert.id}"]


def test_a_muted_route_and_no_route_are_reported_not_dropped(two: Any, make_dispatcher: Any,
                                                              outcomes: Any) -> None:
    d = make_dispatcher(two, default_route=(), routes=routes())
    muted = replace(sample_alert("oom"), namespace="web", severity="info")
    nowhere = replace(sample_alert("oom"), namespace="other")
    assert d.submit(muted) == [] and d.submit(nowhere) == []
    assert [(o.result, o.alert_ids) for o in outcomes] == [("muted", (muted.id,)), ("unrouted", (nowhere.id,))]
    assert d.pending() == 0


def test_without_a_tree_the_default_route_applies(two: Any, make_dispatcher: Any) -> None:
    d = make_dispatcher(two, default_route=("pay-wecom",))
    alert = replace(sample_alert("oom"), namespace="anything")
    assert d.submit(alert) == [f"pay-wecom|{alert.id}"]

