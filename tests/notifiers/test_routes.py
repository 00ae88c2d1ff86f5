"""The routing tree as tables: matchers, nesting, first match, `continue`, globs, labels,
inheritance, a rule's own `notify`, and the problems `config check` reports."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from notifiers.routes import RoutesError, parse_matcher, parse_routes
from notifiers.samples import sample_alert
from rules.alert import Alert

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=timezone.utc)
ROBOTS = ("ops", "shop", "pay", "pay-oncall", "infra", "audit")


def alert(**changes: Any) -> Alert:
    """An OOM in namespace `shop`, workload `order-api`, labels app/owner; no rule `notify`."""
    return replace(sample_alert("oom", now=NOW), **{"notify": (), **changes})


@pytest.mark.parametrize(("matcher", "changes", "expected"), [
    ("namespace=shop", {}, True),
    ("namespace=shop", {"namespace": "shop-2"}, False),
    ("namespace=shop-*", {"namespace": "shop-2"}, True),
    ("namespace=shop-*", {"namespace": "shop"}, False),
    ("namespace=shop-?", {"namespace": "shop-ab"}, False),
    ("namespace!=kube-*", {"namespace": "kube-system"}, False),
    ("namespace!=kube-*", {}, True),
    ('rule="oom-killed"', {}, True),
    ("rule!=oom-killed", {}, False),
    ("severity=~warning|critical", {}, True),
    ('severity=~"warn.*"', {}, False),
    ("severity!~info", {}, True),
    ("rule=~oom", {}, False),  # anchored at both ends, as Alertmanager
    ("workload=order-api", {}, True),
    ("workload_kind=Deployment", {}, True),
    ("workload=web-0", {"workload_name": "", "workload_kind": "", "name": "web-0"}, True),
    ("cluster=prod-sh", {}, True),
    ("status=resolved", {}, False),
    ("kind=Pod", {}, True),
    ("labels.app=order-api", {}, True),
    ("labels.team=pay", {"object_labels": {"team": "pay"}}, True),
    ("labels.team=pay", {}, False),
    ("labels.team!=pay", {}, True),  # a missing label is the empty string
    ('labels.team=""', {}, True),
    ("labels.app.kubernetes.io/name=api", {"object_labels": {"app.kubernetes.io/name": "api"}}, True),
    ("annotations.ops/tier=~gold|silver", {"object_annotations": {"ops/tier": "gold"}}, True),
    ("annotations.ops/tier=~gold|silver", {"object_annotations": {"ops/tier": "golden"}}, False),
    ("labels.team=*", {"object_labels": {"team": "pay"}}, False),  # globs only on namespace
    ("labels.team=~.+", {"object_labels": {"team": "\ud800"}}, True),  # lone surrogate from JSON
    (' namespace = "a b" ', {"namespace": "a b"}, True),
])
def test_matcher(matcher: str, changes: dict[str, Any], expected: bool) -> None:
    assert parse_matcher(matcher).matches(alert(**changes)) is expected


@pytest.mark.parametrize(("text", "message"), [
    ("namespace", "expected `field=value`"),
    ("namspace=shop", "did you mean `namespace`"),
    ("labels=shop", "unknown field `labels`"),
    ("rule=~(a", "cannot be used"),
    (r"rule=~(a)\1", "cannot be used"),
    ("rule=~(?=a)", "cannot be used"),
    ('rule="oom', "expected `field=value`"),
])
def test_bad_matcher(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        parse_matcher(text)


TWO_TEAMS = [
    {"name": "shop", "matchers": ["namespace=shop", "severity=critical"], "notify": ["shop"], "group_wait": "30s",
     "routes": [{"matchers": ["labels.team=pay"], "notify": ["pay"], "continue": True},
                {"matchers": ["labels.team=pay"], "notify": ["pay-oncall"]}]},
    {"matchers": ["namespace=shop-*"], "notify": ["shop"]},
    {"matchers": ["namespace=~pay|pay-.*"], "notify": ["pay"], "group_by": ["namespace", "labels.app"]},
    {"matchers": ["severity=critical"], "notify": ["audit"], "continue": True},
    {"matchers": ["namespace=~infra.*"], "notify": ["infra"]},
]


@pytest.mark.parametrize(("changes", "robots"), [
    ({}, [("shop",)]),                                           # first match; children none: ends at shop
    ({"severity": "warning"}, [("ops",)]),                       # no child: the root (routing.default)
    ({"object_labels": {"team": "pay"}}, [("pay",), ("pay-oncall",)]),  # nested, continue to next sibling
    ({"namespace": "shop-eu"}, [("shop",)]),                     # glob
    ({"namespace": "pay-2", "severity": "info"}, [("pay",)]),    # regex
    ({"namespace": "infra-1"}, [("audit",), ("infra",)]),        # continue: both
    ({"namespace": "infra-1", "severity": "info"}, [("infra",)]),
    ({"namespace": "other"}, [("audit",)]),                      # continue, then nothing else: only audit
])
def test_targets(changes: dict[str, Any], robots: list[tuple[str, ...]]) -> None:
    routes = parse_routes(["ops"], TWO_TEAMS, robots=ROBOTS)
    assert [m.robots for m in routes.targets(alert(**changes), NOW)] == robots


def test_a_match_names_its_path_and_carries_inherited_options() -> None:
    routes = parse_routes(["ops"], TWO_TEAMS, robots=ROBOTS)
    first, second = routes.targets(alert(object_labels={"team": "pay"}), NOW)
    assert first.path == ("routing.default", 'routing.routes[0] (shop) {namespace="shop", severity="critical"}',
                          'routing.routes[0].routes[0] {labels.team="pay"}')
    assert (first.group_wait, second.group_wait) == (timedelta(seconds=30), timedelta(seconds=30))
    assert first.sends and second.sends
    pay, = routes.targets(alert(namespace="pay"), NOW)
    assert (pay.group_by, pay.group_wait) == (("namespace", "labels.app"), None)


def test_a_child_without_notify_inherits_its_parents_robots() -> None:
    routes = parse_routes(["ops"], [{"matchers": ["namespace=shop"], "notify": ["shop"],
                                     "routes": [{"matchers": ["severity=critical"], "repeat_interval": "1h"}]}])
    match, = routes.targets(alert(), NOW)
    assert (match.robots, match.repeat_interval) == (("shop",), timedelta(hours=1))


def test_a_rules_own_notify_wins_over_the_tree() -> None:
    routes = parse_routes(["ops"], TWO_TEAMS, robots=ROBOTS)
    match, = routes.targets(alert(notify=("infra",)), NOW)
    assert (match.robots, match.path) == (("infra",), ("rule `oom-killed` notify",))


def test_no_routes_is_todays_default() -> None:
    match, = parse_routes(["ops"]).targets(alert(), NOW)
    assert (match.robots, match.path, match.sends) == (("ops",), ("routing.default",), True)


def problems(routes: Any, intervals: Any = None) -> list[tuple[tuple[Any, ...], str]]:
    with pytest.raises(RoutesError) as caught:
        parse_routes(["ops"], routes, intervals, robots=ROBOTS)
    return caught.value.problems


@pytest.mark.parametrize(("routes", "intervals", "path", "message"), [
    ([{"notify": ["shpo"]}], None, ("routing", "routes", 0, "notify", 0), "no notifier named `shpo` (did you mean `shop`?)"),
    ([{"mute_time_intervals": ["of-hours"]}], {"off-hours": [{"weekdays": ["saturday"]}]},
     ("routing", "routes", 0, "mute_time_intervals", 0), "no time interval named `of-hours` (did you mean `off-hours`?)"),
    ([{"active_time_intervals": ["x"]}], None, ("routing", "routes", 0, "active_time_intervals", 0), "defined: none"),
    ([{"matchers": ["namespace~shop"]}], None, ("routing", "routes", 0, "matchers", 0), "expected `field=value`"),
    ([{"matchers": "namespace=shop", "notfy": ["shop"]}], None, ("routing", "routes", 0, "notfy"), "did you mean `notify`"),
    ([{"notify": ["shop"]}, {"matchers": ["namespace=pay"], "notify": ["pay"]}], None,
     ("routing", "routes", 1), "unreachable: routing.routes[0] before it takes every alert"),
    ([{"matchers": ["namespace=shop"]}, {"matchers": ["namespace=shop", "severity=info"]}], None,
     ("routing", "routes", 1), "matches every alert this route matches"),
    ([{"routes": [{"matchers": []}, {"matchers": ["rule=a"]}]}], None, ("routing", "routes", 0, "routes", 1), "unreachable"),
    ([{"group_wait": "30 seconds"}], None, ("routing", "routes", 0, "group_wait"), "expected a duration"),
    ([{"group_by": ["namepsace"]}], None, ("routing", "routes", 0, "group_by", 0), "did you mean `namespace`"),
    ([{"continue": "yes"}], None, ("routing", "routes", 0, "continue"), "expected true or false"),
    ({"matchers": []}, None, ("routing", "routes"), "expected a list of routes"),
    (["shop"], None, ("routing", "routes", 0), "expected a route mapping"),
])
def test_problems_name_the_key(routes: Any, intervals: Any, path: tuple[Any, ...], message: str) -> None:
    found = problems(routes, intervals)
    assert any(p == path and message in m for p, m in found), found


def test_a_continue_sibling_and_different_matchers_are_reachable() -> None:
    parse_routes(["ops"], [{"notify": ["audit"], "continue": True}, {"matchers": ["namespace=shop"]},
                           {"matchers": ["namespace=pay"]}, {"matchers": ["namespace=shop-x", "severity=info"]}])


def test_every_problem_is_reported_at_once() -> None:
    assert len(problems([{"notify": ["nope"], "matchers": ["x=1"]}, {"group_wait": "soon"}])) == 3


def test_a_label_without_a_value_is_the_empty_string() -> None:
    assert parse_matcher('labels.team=""').matches(alert(object_labels={"team": None}))
