"""`inhibit_rules:` from the config, and the built-in rules behind one card per outage.

Kept apart from the judging (notifiers/inhibition.py) so the model stays short: this module
knows the config's shape, its key paths for errors (`config check` adds file:line), and what
the built-ins are. Matchers are the routing tree's (`notifiers.routes.parse_matcher`), plus
`fields.<path>` (an alert's template values, e.g. `fields.backs_service=false`), which routing
does not offer because routes are about who gets an alert, not what it says.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Mapping, Sequence

from rules.alert import Alert

from .routes import FIELDS, Matcher, RoutesError, field_value, parse_matcher
from .timeintervals import KeyPath, Problems, suggest

RULE_KEYS = ("name", "source_matchers", "target_matchers", "equal", "look_ahead", "for", "source_wait")
EQUAL_NAMES = (*FIELDS, "node")
"""Besides `labels.<key>`, `annotations.<key>` and `fields.<path>`."""
_FIELDS_MATCHER = re.compile(r"\s*(fields\.[^\s=!~\"]+)(.*)", re.S)
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

ENDPOINTS_FOR = timedelta(seconds=30)
"""The built-in `endpoints-unhealthy` rule's `for`."""
LOOK_AHEAD_SLACK = timedelta(seconds=15)
"""Added to that `for`: the endpoints alert is built, routed and observed a moment after it."""
NODE_NOT_READY_FOR = timedelta(minutes=10)


class InhibitRulesError(RoutesError):
    """`inhibit_rules` cannot be built; `problems` are (config key path, message) pairs."""


@dataclass(frozen=True, slots=True)
class Equal:
    """An `equal` item: the source's `source` values must include the target's `target` values."""

    source: str
    target: str

    def __str__(self) -> str:
        return self.source if self.source == self.target else f"{{source: {self.source}, target: {self.target}}}"


@dataclass(frozen=True, slots=True)
class InhibitRule:
    """One rule; see the module docstring of notifiers/inhibition.py for the semantics."""

    source_matchers: tuple[Matcher, ...]
    target_matchers: tuple[Matcher, ...]
    equal: tuple[Equal, ...] = ()
    look_ahead: timedelta = timedelta(0)
    """How long a firing target waits for a source that may follow it."""
    for_: timedelta | None = None
    """How long a source inhibits after its newest firing; None: until it resolves."""
    source_wait: timedelta = timedelta(0)
    """How long a firing source's own card waits, so that it can count what it inhibited."""
    name: str = ""
    path: KeyPath = ()

    def is_source(self, alert: Alert) -> bool:
        return all(holds(m, alert) for m in self.source_matchers)

    def is_target(self, alert: Alert) -> bool:
        return all(holds(m, alert) for m in self.target_matchers)

    def covering(self, target: Alert, sources: Sequence[Alert]) -> Alert | None:
        """The first of `sources` that, with the others that share a value with `target` on
        every `equal` item, covers all of its values (one source, unless `node` has several)."""
        wanted = [(e, values_of(target, e.target)) for e in self.equal]
        near = [s for s in sources if all(need & values_of(s, e.source) for e, need in wanted)]
        if not near:
            return None
        for e, need in wanted:
            have: set[str] = set()
            for s in near:
                have |= values_of(s, e.source)
            if not need <= have:
                return None
        return near[0]


def values_of(alert: Alert, name: str) -> frozenset[str]:
    """The values an `equal` item compares: one for a plain field, the nodes for `node`."""
    if name == "node":
        return alert_nodes(alert)
    return frozenset({alert_value(alert, name)})


def alert_nodes(alert: Alert) -> frozenset[str]:
    """The nodes an alert is about: a Service's unhealthy endpoints' (`fields.nodes`), a Node
    Event's Node, else the pod's (`fields.node`); empty when unknown (then nothing covers it)."""
    fields = alert.fields
    nodes = fields.get("nodes")
    if isinstance(nodes, (list, tuple)):
        return frozenset(str(n) for n in nodes if n)
    if alert.workload_kind == "Node" and alert.workload_name:
        return frozenset({alert.workload_name})
    node = fields.get("node")
    return frozenset({str(node)}) if node else frozenset()


def holds(matcher: Matcher, alert: Alert) -> bool:
    """Like `Matcher.matches`, also for `fields.<path>` matchers."""
    return bool(matcher.test(alert_value(alert, matcher.field))) != (matcher.op in ("!=", "!~"))


def alert_value(alert: Alert, name: str) -> str:
    """The alert's value for a matcher or `equal` name; `fields.a.b` walks `alert.fields`."""
    if not name.startswith("fields."):
        return field_value(alert, name)
    value: Any = alert.fields
    for part in name[7:].split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def parse_inhibit_matcher(text: Any) -> Matcher:
    """`parse_matcher`, also accepting `fields.<path>`; ValueError if bad."""
    m = _FIELDS_MATCHER.fullmatch(text) if isinstance(text, str) else None
    if m is None:
        return parse_matcher(text)
    return replace(parse_matcher(f"labels.x{m.group(2)}"), field=m.group(1))


def builtin_rules(*, endpoints_for: timedelta = ENDPOINTS_FOR,
                  node_not_ready_for: timedelta = NODE_NOT_READY_FOR) -> list[InhibitRule]:
    """One card per outage. An unhealthy Service absorbs the OOMs of the workload whose pod
    caused the drop (an OOM waits the endpoints rule's `for` + 15 s for it, unless the engine
    knows its pod backs no Service: before the endpoints are listed it cannot know); a NodeNotReady alert absorbs the alerts of that node's
    pods and of Services whose unhealthy endpoints are all on NotReady nodes, and its own card
    waits as long, so it can say how many."""
    wait = endpoints_for + LOOK_AHEAD_SLACK
    path: KeyPath = ("inhibition", "builtin")
    return [
        InhibitRule(
            name="endpoints-unhealthy absorbs the OOMs that caused it", path=path,
            source_matchers=(parse_matcher("detector=endpoints_unhealthy"),),
            target_matchers=(parse_matcher("detector=oom_killed"), parse_inhibit_matcher("fields.backs_service!=false")),
            equal=(Equal("namespace", "namespace"), Equal("fields.cause.workload", "workload")),
            look_ahead=wait),
        InhibitRule(
            name="node-not-ready absorbs the alerts on that node", path=path,
            source_matchers=(parse_matcher("rule=node-not-ready"),),
            target_matchers=(parse_matcher("rule!=node-not-ready"), parse_matcher("workload_kind!=Node")),
            equal=(Equal("node", "node"),), for_=node_not_ready_for, source_wait=wait),
    ]


def parse_inhibit_rules(raw: Any, *, builtin: bool, endpoints_for: timedelta = ENDPOINTS_FOR,
                        node_not_ready_for: timedelta = NODE_NOT_READY_FOR) -> list[InhibitRule]:
    """The built-ins (when `builtin`) then the config's `inhibit_rules` list, in order.
    InhibitRulesError lists every problem with its key path."""
    problems: Problems = []
    rules = builtin_rules(endpoints_for=endpoints_for, node_not_ready_for=node_not_ready_for) if builtin else []
    if raw is not None and not isinstance(raw, list):
        problems.append((("inhibit_rules",), "expected a list of rules, each with source_matchers, "
                                             "target_matchers and optionally equal, look_ahead, for"))
    for i, item in enumerate(raw if isinstance(raw, list) else ()):
        rule = _rule(item, ("inhibit_rules", i), problems)
        if rule is not None:
            rules.append(rule)
    if problems:
        raise InhibitRulesError(problems)
    return rules


def _rule(raw: Any, path: KeyPath, problems: Problems) -> InhibitRule | None:
    if not isinstance(raw, Mapping):
        problems.append((path, f"expected a mapping with {', '.join(RULE_KEYS)}"))
        return None
    before = len(problems)
    for key in raw:
        if key not in RULE_KEYS:
            problems.append(((*path, key), f"unknown key `{key}`{suggest(str(key), RULE_KEYS)}; "
                                           f"expected one of {', '.join(RULE_KEYS)}"))
    sources = _matchers(raw.get("source_matchers"), (*path, "source_matchers"), problems)
    targets = _matchers(raw.get("target_matchers"), (*path, "target_matchers"), problems)
    equal = _equal(raw.get("equal"), (*path, "equal"), problems)
    look_ahead = _duration(raw.get("look_ahead", "0s"), (*path, "look_ahead"), problems)
    source_wait = _duration(raw.get("source_wait", "0s"), (*path, "source_wait"), problems)
    for_ = _duration(raw["for"], (*path, "for"), problems) if raw.get("for") is not None else None
    if len(problems) > before:
        return None
    _lint(sources, targets, path, problems)
    return InhibitRule(source_matchers=sources, target_matchers=targets, equal=equal, look_ahead=look_ahead,
                       for_=for_, source_wait=source_wait, name=str(raw.get("name", "")), path=path)


def _lint(sources: tuple[Matcher, ...], targets: tuple[Matcher, ...], path: KeyPath, problems: Problems) -> None:
    """Rules that parse but can never inhibit anything."""
    if {str(m) for m in sources} == {str(m) for m in targets}:
        problems.append(((*path, "target_matchers"), "the same as source_matchers: every alert matches both "
                                                   "sides, and such a source never inhibits such a target"))
    for i, m in enumerate(sources):
        if m.field == "status" and m.test("resolved") != (m.op in ("!=", "!~")):
            problems.append(((*path, "source_matchers", i), "only firing alerts are sources "
                                                           "(a resolved one stops inhibiting at once)"))


def _matchers(raw: Any, path: KeyPath, problems: Problems) -> tuple[Matcher, ...]:
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not items:
        problems.append((path, 'expected a non-empty list of matchers like ["rule=node-not-ready"] '
                               "(an empty side would match every alert)"))
        return ()
    out = []
    for i, text in enumerate(items):
        try:
            out.append(parse_inhibit_matcher(text))
        except ValueError as exc:
            problems.append(((*path, i), f"{exc}, or fields.<path>"))
    return tuple(out)


def _equal(raw: Any, path: KeyPath, problems: Problems) -> tuple[Equal, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problems.append((path, "expected a list of field names, e.g. [namespace, node]"))
        return ()
    out = []
    for i, item in enumerate(raw):
        if isinstance(item, Mapping) and set(item) == {"source", "target"}:
            pair = (item["source"], item["target"])
        else:
            pair = (item, item)
        if all(_equal_name(n, (*path, i), problems) for n in pair):
            out.append(Equal(*pair))
    return tuple(out)


def _equal_name(name: Any, path: KeyPath, problems: Problems) -> bool:
    if isinstance(name, str) and (name in EQUAL_NAMES or re.fullmatch(r"(labels|annotations|fields)\.\S+", name)):
        return True
    if isinstance(name, str):
        hint = suggest(name, EQUAL_NAMES)
        problems.append((path, f"unknown field `{name}`{hint}; expected one of {', '.join(EQUAL_NAMES)}, "
                               "labels.<key>, annotations.<key> or fields.<path>"))
    else:
        problems.append((path, "expected a field name, or {source: <field>, target: <field>}"))
    return False


def _duration(value: Any, path: KeyPath, problems: Problems) -> timedelta:
    text = str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    parts = list(_DURATION.finditer(text))
    if text == "0":
        return timedelta(0)
    if not text or "".join(p.group(0) for p in parts) != text:
        problems.append((path, f"expected a duration like 30s, 5m, 1h30m, got {value!r}"))
        return timedelta(0)
    return timedelta(seconds=sum(int(p.group(1)) * _UNITS[p.group(2)] for p in parts))
