"""Compile a rule's `match` block into a predicate over a field view.

Syntax, per field (see README "Rule files"):
    reason: BackOff                  equality (numbers and booleans compare as written)
    reason: [BackOff, Failed]        any of
    message: "~ (?i)out of memory"   regular expression, searched anywhere, in linear time (rules/regex.py)
    reason: {not: Pulled}            negation of any of the forms above
    count: {gte: 5}                  comparisons: gt, gte, lt, lte
    labels: "app=web,tier in (a,b),!canary"   a Kubernetes label selector (or a mapping)
    namespaces: {include: [prod-*], exclude: [kube-system]}   shell-style globs
Errors raise `MatchError(path, message)`; the loader adds file and line.
"""
from __future__ import annotations

import fnmatch
import re
from typing import Any, Callable, Mapping, Sequence

from rules.regex import PatternError, compile_search

Predicate = Callable[[Any], bool]
ViewTest = Callable[[Mapping[str, Any]], bool]
_COMPARE = {"gt": lambda a, b: a > b, "gte": lambda a, b: a >= b, "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b}
_SELECTOR_TERM = re.compile(
    r"^\s*(?:(?P<neg>!)\s*(?P<nkey>[\w./-]+)|(?P<key>[\w./-]+)\s*(?:(?P<op>==|!=|=)\s*(?P<val>[\w.-]*)"
    r"|\s+(?P<setop>in|notin)\s*\((?P<set>[^)]*)\)|))\s*$"
)


class MatchError(ValueError):
    def __init__(self, path: Sequence[str | int], message: str) -> None:
        super().__init__(message)
        self.path = tuple(path)
        self.message = message


def compile_value(spec: Any, path: Sequence[str | int]) -> Predicate:
    """A predicate over one field's value."""
    if isinstance(spec, str) and spec.startswith("~"):
        try:
            found = compile_search(spec[1:].lstrip(" "))
        except PatternError as exc:
            raise MatchError(path, str(exc)) from None
        return _memo(lambda v: v is not None and found(v if v.__class__ is str else str(v)))
    if isinstance(spec, list):
        if not spec:
            raise MatchError(path, "empty list matches nothing")
        tests = [compile_value(s, [*path, i]) for i, s in enumerate(spec)]
        wanted = exact_values(spec)
        if wanted is not None:  # all plain values: one set lookup
            return lambda v: (v if v.__class__ is str else as_text(v)) in wanted
        return lambda v: any(t(v) for t in tests)
    if isinstance(spec, dict):
        return _compile_ops(spec, path)
    if spec is None or isinstance(spec, (str, int, float, bool)):
        want = as_text(spec)
        return lambda v: (v if v.__class__ is str else as_text(v)) == want
    raise MatchError(path, f"unsupported value of type {type(spec).__name__}")


def compile_field(key: str, spec: Any, path: Sequence[str | int]) -> "FieldTest":
    """A test on one field of a view. It names its field and its value predicate, so the engine's
    index (`rules.index`) can decide it once per distinct value for every rule at a time."""
    return FieldTest(key, compile_value(spec, path))


class FieldTest:
    """`predicate(view[field])`, a missing field being None. Pure: the verdict depends on the
    field's value alone, which is what lets `rules.index` remember it per value."""

    __slots__ = ("field", "predicate")

    def __init__(self, field: str, predicate: Predicate) -> None:
        self.field = field
        self.predicate = predicate

    def __call__(self, view: Mapping[str, Any]) -> bool:
        return self.predicate(view.get(self.field))

    def __repr__(self) -> str:
        return f"FieldTest({self.field!r})"


def _memo(pred: Predicate, size: int = 4096) -> Predicate:
    """Regex verdicts per distinct string: messages repeat, and a dict lookup is ~10x cheaper
    than a search. Bounded: cleared when full."""
    cache: dict[Any, bool] = {}

    def test(v: Any) -> bool:
        try:
            return cache[v]
        except KeyError:
            pass
        except TypeError:  # unhashable
            return pred(v)
        if len(cache) >= size:
            cache.clear()
        verdict = cache[v] = pred(v)
        return verdict

    return test


def exact_values(spec: Any) -> frozenset[str] | None:
    """The values a plain equality (or list of them) accepts, as compared (`as_text`); None for
    regexes, negations and comparisons, which no index can serve."""
    items = spec if isinstance(spec, list) else [spec]
    if not items or any(isinstance(i, (dict, list)) or (isinstance(i, str) and i.startswith("~")) for i in items):
        return None
    return frozenset(as_text(i) for i in items)


def _compile_ops(spec: Mapping[str, Any], path: Sequence[str | int]) -> Predicate:
    if not spec:
        raise MatchError(path, "empty mapping: expected one of not, gt, gte, lt, lte")
    tests: list[Predicate] = []
    for op, arg in spec.items():
        where = [*path, op]
        if op == "not":
            inner = compile_value(arg, where)
            tests.append(_negated(inner))
        elif op in _COMPARE:
            if isinstance(arg, bool) or not isinstance(arg, (int, float)):
                raise MatchError(where, f"`{op}` expects a number, got {arg!r}")
            cmp = _COMPARE[op]
            tests.append(_compared(cmp, arg))
        else:
            raise MatchError(where, f"unknown operator `{op}`: expected one of not, gt, gte, lt, lte")
    return lambda v: all(t(v) for t in tests)


def _negated(inner: Predicate) -> Predicate:
    return lambda v: not inner(v)


def _compared(cmp: Callable[[float, float], bool], arg: float) -> Predicate:
    return lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and cmp(v, arg)


def compile_selector(spec: Any, path: Sequence[str | int]) -> Callable[[Mapping[str, str]], bool]:
    """A Kubernetes label selector string, or a mapping of label -> value spec."""
    if isinstance(spec, dict):
        tests = [(str(k), compile_value(v, [*path, k])) for k, v in spec.items()]
        return lambda labels: all(t(labels.get(k)) for k, t in tests)
    if not isinstance(spec, str):
        raise MatchError(path, "expected a label selector string or a mapping")
    terms = []
    for raw in _split_selector(spec):
        m = _SELECTOR_TERM.match(raw)
        if not m:
            raise MatchError(path, f"invalid label selector term {raw.strip()!r}")
        terms.append(_selector_term(m))
    return lambda labels: all(t(labels) for t in terms)


def _selector_term(m: re.Match[str]) -> Callable[[Mapping[str, str]], bool]:
    if m["neg"]:
        key = m["nkey"]
        return lambda labels: key not in labels
    key = m["key"]
    if m["op"]:
        val, negate = m["val"], m["op"] == "!="
        return lambda labels: (labels.get(key) == val) != negate
    if m["setop"]:
        values = frozenset(v.strip() for v in m["set"].split(",") if v.strip())
        if m["setop"] == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    return lambda labels: key in labels


def _split_selector(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p for p in parts if p.strip()]


def compile_namespaces(spec: Any, path: Sequence[str | int]) -> Predicate:
    if not isinstance(spec, dict) or not set(spec) <= {"include", "exclude"}:
        raise MatchError(path, "expected a mapping with `include` and/or `exclude` lists of globs")
    include = _globs(spec.get("include"), [*path, "include"])
    exclude = _globs(spec.get("exclude"), [*path, "exclude"])
    inc = re.compile("|".join(fnmatch.translate(g) for g in include)) if include else None
    exc = re.compile("|".join(fnmatch.translate(g) for g in exclude)) if exclude else None
    seen: dict[str, bool] = {}  # a cluster has few namespaces: remember each verdict

    def test(ns: Any) -> bool:
        ns = ns or ""
        verdict = seen.get(ns)
        if verdict is None:
            verdict = (inc is None or inc.match(ns) is not None) and (exc is None or exc.match(ns) is None)
            if len(seen) < 10_000:
                seen[ns] = verdict
        return verdict

    return test


def _globs(value: Any, path: Sequence[str | int]) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MatchError(path, "expected a list of namespace names or globs")
    return value


def as_text(value: Any) -> str:
    """A field value as `match` compares it: None is '', booleans are true/false."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
