"""Time intervals as tables: each field, ranges, time zones, daylight saving, and routes that
are muted or active only at some times."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import pytest

from notifiers.routes import RoutesError, parse_routes
from notifiers.samples import sample_alert
from notifiers.timeintervals import parse_time_intervals

UTC = timezone.utc


def holds(interval: dict[str, Any], at: datetime, default: str = "UTC") -> bool:
    problems: list[Any] = []
    parsed = parse_time_intervals({"i": [interval]}, default_location=default, problems=problems)
    assert not problems
    return parsed["i"][0].contains(at)


WORKDAY = {"weekdays": ["monday:friday"], "times": [{"start_time": "09:00", "end_time": "18:00"}]}


@pytest.mark.parametrize(("interval", "at", "expected"), [
    # 2026-12-01 is a Tuesday
    (WORKDAY, datetime(2026, 12, 1, 9, 0, tzinfo=UTC), True),
    (WORKDAY, datetime(2026, 12, 1, 8, 59, tzinfo=UTC), False),
    (WORKDAY, datetime(2026, 12, 1, 18, 0, tzinfo=UTC), False),       # end excluded
    (WORKDAY, datetime(2026, 12, 5, 10, 0, tzinfo=UTC), False),       # Saturday
    ({"weekdays": ["sunday", "saturday"]}, datetime(2026, 12, 6, 23, 59, tzinfo=UTC), True),
    ({"weekdays": ["Monday"]}, datetime(2026, 12, 7, 0, 0, tzinfo=UTC), True),
    ({"times": [{"start_time": "22:00", "end_time": "24:00"}, {"start_time": "00:00", "end_time": "06:00"}]},
     datetime(2026, 12, 1, 23, 59, tzinfo=UTC), True),
    ({"times": [{"start_time": "22:00", "end_time": "24:00"}, {"start_time": "00:00", "end_time": "06:00"}]},
     datetime(2026, 12, 1, 6, 0, tzinfo=UTC), False),
    ({"days_of_month": ["1:7"]}, datetime(2026, 12, 7, 12, tzinfo=UTC), True),
    ({"days_of_month": [-1]}, datetime(2026, 2, 28, 12, tzinfo=UTC), True),           # last day of February
    ({"days_of_month": ["-3:-1"]}, datetime(2028, 2, 27, tzinfo=UTC), True),          # leap year: 27..29
    ({"days_of_month": ["-3:-1"]}, datetime(2028, 2, 26, tzinfo=UTC), False),
    ({"days_of_month": ["31"]}, datetime(2026, 2, 28, tzinfo=UTC), False),            # no 31st: never
    ({"days_of_month": ["25:31"]}, datetime(2026, 2, 28, tzinfo=UTC), True),          # end clamped
    ({"days_of_month": ["1:-1"]}, datetime(2026, 4, 30, tzinfo=UTC), True),
    ({"months": ["december"]}, datetime(2026, 12, 31, tzinfo=UTC), True),
    ({"months": ["1:3", "may"]}, datetime(2026, 4, 1, tzinfo=UTC), False),
    ({"years": ["2026:2027"]}, datetime(2028, 1, 1, tzinfo=UTC), False),
    ({}, datetime(2026, 12, 1, tzinfo=UTC), True),                                     # no field: always
    # time zones: working hours in Shanghai (UTC+8, no DST)
    ({**WORKDAY, "location": "Asia/Shanghai"}, datetime(2026, 12, 1, 1, 0, tzinfo=UTC), True),   # 09:00 CST
    ({**WORKDAY, "location": "Asia/Shanghai"}, datetime(2026, 12, 1, 10, 0, tzinfo=UTC), False),  # 18:00 CST
    ({**WORKDAY, "location": "Asia/Shanghai"}, datetime(2026, 12, 4, 16, 30, tzinfo=UTC), False),  # Sat 00:30 CST
    ({**WORKDAY, "location": "Asia/Shanghai"}, datetime.fromisoformat("2026-12-01T03:00:00+08:00"), False),
    ({**WORKDAY, "location": "Asia/Shanghai"}, datetime(2026, 12, 1, 1, 0), True),    # naive = UTC
    # daylight saving in New York: 09:00 local is 14:00 UTC in winter, 13:00 UTC in summer
    ({**WORKDAY, "location": "America/New_York"}, datetime(2026, 1, 6, 14, 0, tzinfo=UTC), True),
    ({**WORKDAY, "location": "America/New_York"}, datetime(2026, 1, 6, 13, 30, tzinfo=UTC), False),
    ({**WORKDAY, "location": "America/New_York"}, datetime(2026, 7, 7, 13, 30, tzinfo=UTC), True),
    # the spring-forward day (2026-03-08: 02:00 EST -> 03:00 EDT): 01:59 EST, then 03:00 EDT
    ({"times": [{"start_time": "02:00", "end_time": "03:00"}], "location": "America/New_York"},
     datetime(2026, 3, 8, 6, 59, tzinfo=UTC), False),
    ({"times": [{"start_time": "03:00", "end_time": "04:00"}], "location": "America/New_York"},
     datetime(2026, 3, 8, 7, 0, tzinfo=UTC), True),
    # the fall-back day (2026-11-01): 01:30 happens twice, both are in 01:00-02:00
    ({"times": [{"start_time": "01:00", "end_time": "02:00"}], "location": "America/New_York"},
     datetime(2026, 11, 1, 5, 30, tzinfo=UTC), True),
    ({"times": [{"start_time": "01:00", "end_time": "02:00"}], "location": "America/New_York"},
     datetime(2026, 11, 1, 6, 30, tzinfo=UTC), True),
])
def test_interval(interval: dict[str, Any], at: datetime, expected: bool) -> None:
    assert holds(interval, at) is expected


def test_the_default_location_is_the_configs_time_zone() -> None:
    assert holds(WORKDAY, datetime(2026, 12, 1, 1, 0, tzinfo=UTC), default="Asia/Shanghai")
    assert not holds(WORKDAY, datetime(2026, 12, 1, 1, 0, tzinfo=UTC), default="UTC")


@pytest.mark.parametrize(("raw", "path", "message"), [
    ({"i": [{"times": [{"start_time": 540, "end_time": "18:00"}]}]}, ("t", "i", 0, "times", 0, "start_time"), "(quoted)"),
    ({"i": [{"times": [{"start_time": "18:00", "end_time": "09:00"}]}]}, ("t", "i", 0, "times", 0), "must be before"),
    ({"i": [{"times": [{"start_time": "24:30", "end_time": "25:00"}]}]}, ("t", "i", 0, "times", 0, "start_time"), "HH:MM"),
    ({"i": [{"weekdays": ["monday:fryday"]}]}, ("t", "i", 0, "weekdays", 0), "did you mean `friday`"),
    ({"i": [{"weekdays": ["friday:monday"]}]}, ("t", "i", 0, "weekdays", 0), "start is after its end"),
    ({"i": [{"days_of_month": [0]}]}, ("t", "i", 0, "days_of_month", 0), "1 to 31"),
    ({"i": [{"days_of_month": ["-1:5"]}]}, ("t", "i", 0, "days_of_month", 0), "cannot end"),
    ({"i": [{"months": [13]}]}, ("t", "i", 0, "months", 0), "expected one of january"),
    ({"i": [{"location": "Asia/Shangai"}]}, ("t", "i", 0, "location"), "unknown time zone"),
    ({"i": [{"weekday": ["monday"]}]}, ("t", "i", 0, "weekday"), "did you mean `weekdays`"),
    ({"i": []}, ("t", "i"), "expected a list of intervals"),
    (["i"], ("t",), "expected a mapping"),
])
def test_bad_interval(raw: Any, path: tuple[Any, ...], message: str) -> None:
    problems: list[Any] = []
    parse_time_intervals(raw, default_location="UTC", problems=problems, path=("t",))
    assert any(p == path and message in m for p, m in problems), problems


INTERVALS = {"working-hours": [{**WORKDAY, "location": "Asia/Shanghai"}],
             "lunch": [{"times": [{"start_time": "12:00", "end_time": "13:00"}], "location": "Asia/Shanghai"}]}
ROUTES = [
    {"matchers": ["severity=info"], "notify": ["shop"], "active_time_intervals": ["working-hours"],
     "mute_time_intervals": ["lunch"]},
    {"matchers": ["namespace=quiet"], "notify": ["shop"], "mute_time_intervals": ["working-hours"],
     "routes": [{"matchers": ["severity=critical"], "mute_time_intervals": []}, {"matchers": ["severity=warning"]}]},
]


@pytest.mark.parametrize(("changes", "at", "muted_by"), [
    ({"severity": "info"}, "2026-12-01T10:00:00+08:00", ""),
    ({"severity": "info"}, "2026-12-01T03:00:00+08:00", "outside active_time_intervals `working-hours`"),
    ({"severity": "info"}, "2026-12-05T10:00:00+08:00", "outside active_time_intervals `working-hours`"),
    ({"severity": "info"}, "2026-12-01T12:30:00+08:00", "mute_time_intervals `lunch`"),   # mute wins over active
    ({"severity": "info"}, "2026-12-01T04:30:00+00:00", "mute_time_intervals `lunch`"),   # 12:30 in Shanghai
    ({"namespace": "quiet", "severity": "warning"}, "2026-12-01T10:00:00+08:00", "mute_time_intervals `working-hours`"),
    ({"namespace": "quiet", "severity": "warning"}, "2026-12-01T20:00:00+08:00", ""),
    ({"namespace": "quiet", "severity": "critical"}, "2026-12-01T10:00:00+08:00", ""),    # `[]` clears the inherited mute
])
def test_muted_and_active_routes(changes: dict[str, Any], at: str, muted_by: str) -> None:
    routes = parse_routes(["ops"], ROUTES, INTERVALS, robots=("ops", "shop"))
    alert = replace(sample_alert("oom"), notify=(), **changes)
    match, = routes.targets(alert, datetime.fromisoformat(at))
    assert (match.robots, match.muted_by, match.sends) == (("shop",), muted_by, not muted_by)


def test_a_muted_route_still_ends_the_matching() -> None:
    routes = parse_routes(["ops"], [{"matchers": ["namespace=shop"], "notify": ["shop"], "mute_time_intervals": ["always"]},
                                    {"matchers": ["severity=critical"], "notify": ["ops"]}],
                          {"always": [{}]}, robots=("ops", "shop"))
    match, = routes.targets(replace(sample_alert("oom"), notify=()), datetime(2026, 12, 1, tzinfo=UTC))
    assert (match.robots, match.sends) == (("shop",), False)


def test_interval_problems_reach_the_route_error_with_their_path() -> None:
    with pytest.raises(RoutesError) as caught:
        parse_routes(["ops"], [], {"off": [{"weekdays": ["funday"]}]})
    assert caught.value.problems[0][0] == ("time_intervals", "off", 0, "weekdays", 0)
