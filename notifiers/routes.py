"""The routing tree: which robots an alert goes to, so many teams can share one daemon without
copying every rule per namespace (issue 11).

Alertmanager's model, in the project's terms. The root is `routing.default`; `routing.routes`
is an ordered list of child routes, each with `matchers` on alert fields, `notify` (robot
names) and its own `routes`. An alert enters the root and descends: the first child whose
matchers all hold takes it (and a child with `continue: true` lets the following siblings try
too); a route none of whose children takes it is where the alert ends. Unset options are
inherited from the parent: `notify`, `group_by`, `group_wait`, `group_interval`,
`repeat_interval`, `escalate`, and here also `mute_time_intervals` / `active_time_intervals` (Alertmanager
does not inherit those, alertmanager#2833; write `[]` to clear them). A muted or inactive route
still ends the matching (as in Alertmanager): its match says why it sends nothing. A rule's own
`notify` wins: such an alert goes to those robots and the tree is not consulted.

A match names its group (`group_key`: the route's path + the alert's values of its `group_by`
fields; `...` makes each incident its own group) and carries the grouping options and the
`escalate` steps; the dispatcher and worker apply them (dispatcher.py, worker.py). Pure: no I/O, the time is passed in. Regular expressions run on RE2 (linear time: labels and
annotations are written by whoever deploys a pod), anchored at both ends as in Alertmanager.
"""
from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass, field as dataclass_field, replace
from datetime import datetime, timedelta
from typing import Any, Callable, Collection, Mapping

import re2

from rules.alert import Alert

from .timeintervals import KeyPath, Problems, TimeInterval, in_any, parse_time_intervals, suggest

FIELDS = ("cluster", "namespace", "workload", "workload_kind", "kind", "name", "rule", "severity",
          "status", "detector", "key")
"""Matchable alert fields, besides `labels.<key>` and `annotations.<key>` of the object."""
ROUTE_KEYS = ("name", "matchers", "notify", "continue", "group_by", "group_wait", "group_interval",
              "repeat_interval", "mute_time_intervals", "active_time_intervals", "escalate", "routes")
_INHERITED = ("notify", "group_by", "group_wait", "group_interval", "repeat_interval",
              "mute_time_intervals", "active_time_intervals", "escalate")
ESCALATE_KEYS = ("after", "notify")
_GLOB_FIELDS = frozenset({"namespace"})
_MATCHER = re.compile(r"\s*([^\s=!~\"]+)\s*(=~|!~|!=|=)\s*(.*?)\s*")
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # RE2 would print every refused pattern to stderr


class RoutesError(ValueError):
    """The tree cannot be built; `problems` are (config key path, message) pairs."""

    def __init__(self, problems: Problems) -> None:
        super().__init__("\n".join(f"{'.'.join(map(str, p))}: {m}" for p, m in problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Matcher:
    """`field op value`: `=` equal (a shell glob on `namespace`), `!=`, `=~` / `!~` RE2
    matching the whole value. A label or annotation the object lacks is the empty string."""

    field: str
    op: str
    value: str
    test: Callable[[str], bool] = dataclass_field(compare=False, repr=False)

    def matches(self, alert: Alert) -> bool:
        return bool(self.test(field_value(alert, self.field))) != (self.op in ("!=", "!~"))

    def __str__(self) -> str:
        return f"{self.field}{self.op}{json.dumps(self.value, ensure_ascii=False)}"


def field_value(alert: Alert, name: str) -> str:
    """The alert's value for a matcher field (`namespace`, `labels.team`, ...)."""
    if name.startswith("labels."):
        return str(alert.object_labels.get(name[7:]) or "")
    if name.startswith("annotations."):
        return str(alert.object_annotations.get(name[12:]) or "")
    if name == "workload":
        return alert.workload_name or alert.name
    return str(getattr(alert, name, ""))


def parse_matcher(text: str) -> Matcher:
    """`namespace=shop-*`, `labels.team="pay"`, `severity=~"warning|critical"`; ValueError if bad."""
    m = _MATCHER.fullmatch(text) if isinstance(text, str) else None
    if m is None:
        raise ValueError(f"expected `field=value` (or !=, =~, !~), got {text!r}")
    name, op, value = m.group(1), m.group(2), _unquote(m.group(3))
    if name not in FIELDS and not re.fullmatch(r"(labels|annotations)\.\S+", name):
        raise ValueError(f"unknown field `{name}`{suggest(name, FIELDS)}; expected one of "
                         f"{', '.join(FIELDS)}, labels.<key> or annotations.<key>")
    if op in ("=~", "!~"):
        return Matcher(name, op, value, _regex(value))
    if name in _GLOB_FIELDS and any(c in value for c in "*?["):
        pattern = fnmatch.translate(value)
        return Matcher(name, op, value, re.compile(pattern).match)  # type: ignore[arg-type]
    return Matcher(name, op, value, lambda text: text == value)


def _unquote(value: str) -> str:
    if not value.startswith('"'):
        return value
    try:
        unquoted = json.loads(value)
    except ValueError:
        unquoted = None
    if not isinstance(unquoted, str):
        raise ValueError(f"expected `field=value` with a whole \"quoted value\", got {value}")
    return unquoted


def _regex(pattern: str) -> Callable[[str], bool]:
    try:
        regex = re2.compile(f"(?s:{pattern})", _RE2_OPTIONS)
    except re2.error:
        raise ValueError(f"regular expression {pattern!r} cannot be used: invalid in RE2 syntax "
                         "(no backreferences or lookaround)") from None

    def test(text: str) -> bool:
        try:
            return regex.fullmatch(text) is not None
        except UnicodeEncodeError:  # a lone surrogate from JSON: RE2 reads UTF-8
            return regex.fullmatch(text.encode("utf-8", "replace").decode("utf-8")) is not None
    return test


@dataclass(frozen=True, slots=True)
class Escalation:
    """One `escalate` step: a firing still open (not resolved, silenced or inhibited) `after`
    its start goes to `notify` too, once."""

    after: timedelta
    notify: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Route:
    """One node; options already inherited from its parent."""

    path: KeyPath
    name: str
    matchers: tuple[Matcher, ...]
    notify: tuple[str, ...]
    continue_: bool
    group_by: tuple[str, ...]
    group_wait: timedelta | None
    group_interval: timedelta | None
    repeat_interval: timedelta | None
    mute_time_intervals: tuple[str, ...]
    active_time_intervals: tuple[str, ...]
    escalate: tuple[Escalation, ...] = ()
    routes: tuple["Route", ...] = ()

    def matches(self, alert: Alert) -> bool:
        return all(m.matches(alert) for m in self.matchers)

    @property
    def label(self) -> str:
        """How `routes test` shows it: its config path, name and matchers."""
        where = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in self.path).replace(".[", "[")
        named = f" ({self.name})" if self.name else ""
        matchers = " {" + ", ".join(map(str, self.matchers)) + "}" if self.matchers else ""
        return f"{where}{named}{matchers}"


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """Where an alert ends in the tree: the routes from the root, the robots, the grouping
    options, the escalation steps and, if the route is muted now, why. `robots` is empty
    when the route names none (an empty `routing.default`): the caller counts and logs that."""

    path: tuple[str, ...]
    robots: tuple[str, ...]
    group_by: tuple[str, ...] = ()
    group_wait: timedelta | None = None
    group_interval: timedelta | None = None
    repeat_interval: timedelta | None = None
    muted_by: str = ""
    """Empty when the match sends; else e.g. "mute_time_intervals `off-hours`": the caller
    counts and logs it instead of sending."""
    escalate: tuple[Escalation, ...] = ()

    @property
    def sends(self) -> bool:
        return not self.muted_by

    def group_key(self, alert: Alert) -> str:
        """The alert's group on this route: the route's path and the alert's values of the
        `group_by` fields (`...`: every field, so each incident is a group of its own)."""
        where = " > ".join(self.path)
        if "..." in self.group_by:
            return f"{where} | {alert.rule}|{alert.key}|{alert.incident}"
        values = ",".join(f"{f}={field_value(alert, f)}" for f in self.group_by)
        return f"{where} | {values}" if values else where


class Routes:
    """The parsed tree and the named time intervals it refers to."""

    def __init__(self, root: Route, intervals: Mapping[str, tuple[TimeInterval, ...]]) -> None:
        self.root, self.intervals = root, dict(intervals)

    def targets(self, alert: Alert, now: datetime) -> list[RouteMatch]:
        """The matches for `alert` at `now`: one per route it ends at (several with `continue`)."""
        if alert.notify:
            return [RouteMatch(path=(f"rule `{alert.rule}` notify",), robots=tuple(alert.notify))]
        return [self._match(trail, now) for trail in _descend(self.root, alert, ())]

    def _match(self, trail: tuple[Route, ...], now: datetime) -> RouteMatch:
        route = trail[-1]
        return RouteMatch(path=tuple(r.label for r in trail), robots=route.notify, group_by=route.group_by,
                          group_wait=route.group_wait, group_interval=route.group_interval,
                          repeat_interval=route.repeat_interval, muted_by=self._muted_by(route, now),
                          escalate=route.escalate)

    def _muted_by(self, route: Route, now: datetime) -> str:
        for name in route.mute_time_intervals:
            if in_any(self.intervals.get(name, ()), now):
                return f"mute_time_intervals `{name}`"
        active = route.active_time_intervals
        if active and not any(in_any(self.intervals.get(n, ()), now) for n in active):
            return f"outside active_time_intervals {', '.join(f'`{n}`' for n in active)}"
        return ""


def _descend(route: Route, alert: Alert, above: tuple[Route, ...]) -> list[tuple[Route, ...]]:
    trail = (*above, route)
    found: list[tuple[Route, ...]] = []
    for child in route.routes:
        if child.matches(alert):
            found.extend(_descend(child, alert, trail))
            if not child.continue_:
                break
    return found or [trail]


# -- parsing and checks -----------------------------------------------------------------------


def parse_routes(default: Collection[str], routes: Any = None, time_intervals: Any = None, *,
                 robots: Collection[str] | None = None, timezone: str = "UTC") -> Routes:
    """The tree from config data (`routing.default`, `routing.routes`, `time_intervals`).
    `robots` (the configured notifier names) turns on the unknown-robot check; `timezone` is
    the default `location` of time intervals. RoutesError lists every problem."""
    problems: Problems = []
    intervals = parse_time_intervals(time_intervals, default_location=timezone, problems=problems)
    parser = _Parser(problems, robots, intervals)
    root = Route(path=("routing", "default"), name="", matchers=(), notify=tuple(default), continue_=False, group_by=(),
                 group_wait=None, group_interval=None, repeat_interval=None,
                 mute_time_intervals=(), active_time_intervals=(), escalate=())
    root = _with_children(root, parser.children(routes, ("routing", "routes"), root))
    if problems:
        raise RoutesError(problems)
    return Routes(root, intervals)


def _with_children(route: Route, children: tuple[Route, ...]) -> Route:
    return replace(route, routes=children)


class _Parser:
    def __init__(self, problems: Problems, robots: Collection[str] | None,
                 intervals: Mapping[str, Any]) -> None:
        self.problems, self.robots, self.intervals = problems, robots, intervals
        self.bad_matchers: set[KeyPath] = set()
        """Routes with a refused matcher: not judged as catch-alls (that would be a second, false problem)."""

    def fail(self, path: KeyPath, message: str) -> None:
        self.problems.append((path, message))

    def children(self, raw: Any, path: KeyPath, parent: Route) -> tuple[Route, ...]:
        if raw is None:
            return ()
        if not isinstance(raw, list):
            self.fail(path, "expected a list of routes")
            return ()
        out: list[Route] = []
        for i, item in enumerate(raw):
            route = self.route(item, (*path, i), parent)
            if route is not None:
                self._reachable(route, out)
                out.append(route)
        return tuple(out)

    def _reachable(self, route: Route, before: list[Route]) -> None:
        """Refuse a route that an earlier sibling always takes first: one without `continue`
        whose matchers are a subset of this one's (no matchers: it takes every alert)."""
        mine = {str(m) for m in route.matchers}
        for earlier in before:
            if earlier.path in self.bad_matchers:
                continue
            if not earlier.continue_ and {str(m) for m in earlier.matchers} <= mine:
                what = "takes every alert" if not earlier.matchers else "matches every alert this route matches"
                self.fail(route.path, f"unreachable: {earlier.label} before it {what} and has no "
                                      "`continue: true` (move this route above it, or set `continue` there)")
                return

    def route(self, raw: Any, path: KeyPath, parent: Route) -> Route | None:
        if not isinstance(raw, Mapping):
            self.fail(path, f"expected a route mapping with any of {', '.join(ROUTE_KEYS)}")
            return None
        for key in raw:
            if key not in ROUTE_KEYS:
                self.fail((*path, key), f"unknown key `{key}`{suggest(key, ROUTE_KEYS)}; expected one of {', '.join(ROUTE_KEYS)}")
        own = {k: self._option(k, raw[k], (*path, k)) for k in _INHERITED if k in raw}
        options = {k: own.get(k, getattr(parent, k)) for k in _INHERITED}
        name = raw.get("name", "")
        route = Route(path=path, name=str(name), matchers=self._matchers(raw.get("matchers"), (*path, "matchers")),
                      continue_=self._bool(raw.get("continue", False), (*path, "continue")), **options)
        return _with_children(route, self.children(raw.get("routes"), (*path, "routes"), route))

    def _option(self, key: str, value: Any, path: KeyPath) -> Any:
        if key in ("group_wait", "group_interval", "repeat_interval"):
            return self._duration(value, path)
        if key == "escalate":
            return self._escalate(value, path)
        names = self._names(value, path)
        if key == "notify" and self.robots is not None:
            self._known(names, self.robots, "notifier", path)
        elif key.endswith("time_intervals"):
            self._known(names, self.intervals, "time interval", path)
        elif key == "group_by":
            for i, n in enumerate(names):
                if n != "..." and n not in FIELDS and not re.fullmatch(r"(labels|annotations)\.\S+", n):
                    self.fail((*path, i), f"unknown field `{n}`{suggest(n, FIELDS)}")
        return names

    def _escalate(self, raw: Any, path: KeyPath) -> tuple[Escalation, ...]:
        """`escalate: [{after: 30m, notify: [oncall]}]`; `[]` clears an inherited one."""
        if not isinstance(raw, list):
            self.fail(path, "expected a list of steps like [{after: 30m, notify: [oncall-dingtalk]}]")
            return ()
        steps: list[Escalation] = []
        for i, step in enumerate(raw):
            where = (*path, i)
            if not isinstance(step, Mapping) or "after" not in step or "notify" not in step:
                self.fail(where, "expected a mapping with `after` (a duration) and `notify` (robot names)")
                continue
            for key in step:
                if key not in ESCALATE_KEYS:
                    self.fail((*where, key), f"unknown key `{key}`{suggest(key, ESCALATE_KEYS)}; "
                                             f"expected {', '.join(ESCALATE_KEYS)}")
            after = self._duration(step["after"], (*where, "after"))
            notify = self._names(step["notify"], (*where, "notify"))
            if step["notify"] == []:
                self.fail((*where, "notify"), "expected at least one robot name")
            if self.robots is not None:
                self._known(notify, self.robots, "notifier", (*where, "notify"))
            if after is not None and notify:
                steps.append(Escalation(after, notify))
        return tuple(steps)

    def _known(self, names: tuple[str, ...], known: Collection[str], what: str, path: KeyPath) -> None:
        for i, n in enumerate(names):
            if n not in known:
                self.fail((*path, i), f"no {what} named `{n}`{suggest(n, known)} "
                                      f"(defined: {', '.join(known) or 'none'})")

    def _names(self, value: Any, path: KeyPath) -> tuple[str, ...]:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
            self.fail(path, "expected a list of names")
            return ()
        return tuple(items)

    def _matchers(self, raw: Any, path: KeyPath) -> tuple[Matcher, ...]:
        if raw is None:
            return ()
        items = [raw] if isinstance(raw, str) else raw
        if not isinstance(items, list):
            self.fail(path, 'expected a list of matchers like ["namespace=shop-*", "severity!=info"]')
            return ()
        out = []
        for i, text in enumerate(items):
            try:
                out.append(parse_matcher(text))
            except ValueError as exc:
                self.fail((*path, i), str(exc))
                self.bad_matchers.add(path[:-1])
        return tuple(out)

    def _bool(self, value: Any, path: KeyPath) -> bool:
        if not isinstance(value, bool):
            self.fail(path, "expected true or false")
            return False
        return value

    def _duration(self, value: Any, path: KeyPath) -> timedelta | None:
        # rules/durations.py has the same grammar, but notifiers see only rules.alert
        text = str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
        parts = list(_DURATION.finditer(text))
        if not text or "".join(p.group(0) for p in parts) != text:
            self.fail(path, f"expected a duration like 30s, 5m, 1h30m, got {value!r}")
            return None
        return timedelta(seconds=sum(int(p.group(1)) * _UNITS[p.group(2)] for p in parts))
