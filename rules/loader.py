"""Load and validate rule files: YAML in, `Rule` objects or `file:line: message` problems out.

A file holds one rule (a mapping with `name`), a list of rules, or `{rules: [...]}`; several YAML
documents may follow each other. The loader reports every problem it finds, not just the first,
and names unknown keys, detectors and fields with a suggestion when one is close.
"""
from __future__ import annotations

import difflib
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from rules import durations, shipped
from rules import state_detectors  # noqa: F401 (importing it registers oom_killed, endpoints_unhealthy)
from rules.detectors import Detector  # importing it registers the detector types
from rules.registry import REGISTRY
from rules.match import MatchError, compile_namespaces, compile_field, compile_selector, exact_values
from rules.rule import RecordTest, Rule, ViewTest
from rules.shipped import Switch
from rules.views import FIELDS
from rules.yamldoc import KeyPath, Lines, Problem, YamlDocError, load_documents, read_bounded

RULE_KEYS = {
    "name", "description", "source", "match", "detector", "severity", "group_by", "repeat_interval",
    "for", "resolve_after", "send_resolved", "notify", "template", "enabled", "title",
}
SEVERITIES = ("critical", "warning", "info")
DEFAULT_GROUP_BY = {
    "event": ("namespace", "involved_kind", "involved_name", "reason"),
    "pod": ("namespace", "name", "container"),
    "endpoints": ("namespace", "service"),
}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


@dataclass
class LoadResult:
    rules: list[Rule] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    switches: list[Switch] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def builtin_paths() -> list[Path]:
    """The rule files shipped with the package (`rules/builtin/*.yaml`)."""
    base = resources.files("rules") / "builtin"
    return sorted(Path(str(p)) for p in base.iterdir() if p.name.endswith((".yaml", ".yml")))


def expand(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given; directories expand to their *.yaml / *.yml files, sorted."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(q for q in p.iterdir() if q.suffix in (".yaml", ".yml") and q.is_file()))
        else:
            out.append(p)
    return out


def load_rule_set(paths: Iterable[str | Path], *, builtins: bool = True, packs: Iterable[str] = ()) -> LoadResult:
    """Built-in rules first, then the switched-on pack rules, then the given files; a user rule
    with a shipped rule's name replaces it (that is how built-ins are overridden or switched off
    with `enabled: false`). Pack rules are off unless `packs` names their pack (`common`) or the
    rule (`common/failed-scheduling`), or a user file switches them on by name (rules/shipped.py)."""
    result = LoadResult()
    builtin = load_files(builtin_paths())
    packed = load_files(p for pack in shipped.pack_names() for p in shipped.pack_paths(pack))
    user = load_files(expand(paths))
    result.problems = builtin.problems + packed.problems + user.problems
    on = {r.name for r in builtin.rules if builtins} | shipped.chosen(packed.rules, packs)
    rules = {r.name: r for r in (*builtin.rules, *packed.rules)}
    result.problems += shipped.apply_switches(user.switches, rules, on)
    overridden = {r.name for r in user.rules}
    result.rules = [r for r in rules.values() if r.name in on and r.name not in overridden] + user.rules
    return result


def load_files(paths: Iterable[Path]) -> LoadResult:
    result = LoadResult()
    seen: dict[str, str] = {}
    for path in paths:
        try:
            text = read_bounded(path)
        except (OSError, UnicodeDecodeError) as exc:
            result.problems.append(Problem(str(path), 0, f"cannot read rule file: {exc.__class__.__name__}: {exc}"))
            continue
        except YamlDocError as exc:
            result.problems.append(exc.problem)
            continue
        loaded = load_text(text, str(path))
        result.problems.extend(loaded.problems)
        result.switches.extend(loaded.switches)
        for rule in loaded.rules:
            if rule.name in seen:
                result.problems.append(Problem(*rule.location("name"), f"rule `{rule.name}` is already defined at {seen[rule.name]}"))
                continue
            seen[rule.name] = rule.origin
            result.rules.append(rule)
    return result


def load_text(text: str, file: str) -> LoadResult:
    result = LoadResult()
    try:
        documents = load_documents(text, file)
    except YamlDocError as exc:
        result.problems.append(exc.problem)
        return result
    if not documents:
        result.problems.append(Problem(file, 1, "no rules in file"))
    for data, lines in documents:
        for path, raw in _rule_entries(data, lines, result.problems):
            if _is_switch(raw):
                result.switches.append(Switch(raw["name"], raw["enabled"], lines.problem(path, "")))
                continue
            checker = _RuleChecker(raw, path, lines)
            rule = checker.build()
            result.problems.extend(checker.problems)
            if rule is not None:
                result.rules.append(rule)
    return result


def _rule_entries(data: Any, lines: Lines, problems: list[Problem]) -> list[tuple[KeyPath, Any]]:
    items: Any
    base: KeyPath
    if isinstance(data, dict) and "rules" in data and "name" not in data:
        extra = set(data) - {"rules"}
        if extra:
            problems.append(lines.problem((sorted(map(str, extra))[0],), f"unknown top-level key `{sorted(map(str, extra))[0]}`: expected `rules`"))
        items, base = data["rules"], ("rules",)
    elif isinstance(data, dict):
        return [((), data)]
    else:
        items, base = data, ()
    if not isinstance(items, list):
        problems.append(lines.problem(base, "expected a list of rules"))
        return []
    return [((*base, i), item) for i, item in enumerate(items)]


def _is_switch(raw: Any) -> bool:
    """`{name: x, enabled: true|false}` and nothing else: a switch for a shipped rule."""
    return (isinstance(raw, dict) and set(raw) == {"name", "enabled"} and isinstance(raw["name"], str)
            and isinstance(raw["enabled"], bool))


def _line(rule: Rule) -> int:
    return int(rule.origin.rsplit(":", 1)[-1]) if ":" in rule.origin else 0


class _RuleChecker:
    """Validates one rule mapping; collects every problem with its line."""

    def __init__(self, raw: Any, path: KeyPath, lines: Lines) -> None:
        self.raw, self.path, self.lines = raw, path, lines
        self.problems: list[Problem] = []

    def fail(self, subpath: KeyPath, message: str) -> None:
        self.problems.append(self.lines.problem((*self.path, *subpath), message))

    def build(self) -> Rule | None:
        raw = self.raw
        if not isinstance(raw, dict):
            self.fail((), f"a rule must be a mapping, got {type(raw).__name__}")
            return None
        for key in raw:
            if key not in RULE_KEYS:
                self.fail((key,), f"unknown key `{key}`{_suggest(key, RULE_KEYS)}")
        name, source = self._name_and_source()
        where = f"rule `{name}`: " if name else ""
        detector, det_type = self._detector(source, where)
        severity = raw.get("severity", "warning")
        if severity not in SEVERITIES:
            self.fail(("severity",), f"{where}`severity` must be one of {', '.join(SEVERITIES)}, got {severity!r}")
        record_tests, view_tests, exact = self._match(source, det_type, where)
        group_by = self._group_by(source, where)
        timing = {k: self._duration(k, where) for k in ("repeat_interval", "for", "resolve_after")}
        self._check_timing_fits(det_type, where)
        notify = self._str_list("notify", where)
        templates = self._templates(where)
        flags = {k: self._bool(k, default, where) for k, default in (("send_resolved", True), ("enabled", True))}
        description, title = raw.get("description", ""), raw.get("title", "")
        if not isinstance(description, str):
            self.fail(("description",), f"{where}`description` must be a string")
        if not isinstance(title, str):
            self.fail(("title",), f"{where}`title` must be a string (the alert card's title)")
        if self.problems or detector is None or name is None or source is None:
            return None
        key_lines, text_lines = self.lines.below(self.path, raw)
        return Rule(
            name=name, source=source, detector=detector, severity=severity, description=description, title=title,
            record_tests=tuple(record_tests), view_tests=tuple(view_tests),
            group_by=group_by or DEFAULT_GROUP_BY[source], repeat_interval=timing["repeat_interval"],
            for_=timing["for"], resolve_after=timing["resolve_after"], send_resolved=flags["send_resolved"],
            notify=tuple(notify), templates=templates, enabled=flags["enabled"], exact=exact,
            fingerprint=_digest(raw), detector_fingerprint=_digest([source, raw.get("detector")]),
            origin=f"{self.lines.file}:{self.lines.line(self.path)}", key_lines=key_lines, text_lines=text_lines,
        )

    def _name_and_source(self) -> tuple[str | None, str | None]:
        name, source = self.raw.get("name"), self.raw.get("source")
        if not isinstance(name, str) or not _NAME.match(name):
            self.fail(("name",), "`name` is required: letters, digits, `-`, `_`, `.` (at most 63)")
            name = None
        where = f"rule `{name}`: " if name else ""
        if not isinstance(source, str) or source not in FIELDS:
            self.fail(("source",), f"{where}`source` must be one of event, pod, endpoints, got {source!r}")
            source = None
        return name, source

    def _check_timing_fits(self, det_type: str | None, where: str) -> None:
        """`for` belongs to condition detectors, `resolve_after` to instant ones."""
        known = REGISTRY.get(det_type or "")
        if known is None:
            return
        if "for" in self.raw and known.instant:
            self.fail(("for",), f"{where}`for` applies to condition detectors (frequency, endpoints_unhealthy), not `{det_type}`")
        if "resolve_after" in self.raw and not known.instant:
            self.fail(("resolve_after",), f"{where}`resolve_after` applies to instant detectors (any, oom_killed); `{det_type}` resolves by itself")

    def _detector(self, source: str | None, where: str) -> tuple[Detector | None, str | None]:
        spec = self.raw.get("detector")
        if isinstance(spec, str):
            spec = {"type": spec}
        if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
            self.fail(("detector",), f"{where}`detector` is required: one of {', '.join(REGISTRY)} "
                                     "(a name, or a mapping with `type` and its options)")
            return None, None
        kind = spec["type"]
        info = REGISTRY.get(kind)
        if info is None:
            self.fail(("detector", "type"), f"{where}unknown detector `{kind}`{_suggest(kind, REGISTRY)}; "
                                            f"expected one of {', '.join(REGISTRY)}")
            return None, None
        if source is not None and source not in info.sources:
            self.fail(("detector", "type"), f"{where}detector `{kind}` does not apply to source `{source}` "
                                            f"(it reads {', '.join(info.sources)})")
        for key in spec:
            if key != "type" and key not in info.options:
                self.fail(("detector", key), f"{where}unknown option `{key}` for detector `{kind}`"
                                             f"{_suggest(key, info.options)}")
        detector: Detector = info.build(spec, lambda option, message: self.fail(("detector", option), where + message))
        return detector, kind

    def _match(self, source: str | None, det_type: str | None,
               where: str) -> tuple[list[RecordTest], list[ViewTest], dict[str, frozenset[str]]]:
        spec = self.raw.get("match", {})
        record_tests: list[RecordTest] = []
        view_tests: list[ViewTest] = []
        exact: dict[str, frozenset[str]] = {}
        if spec is None:
            spec = {}
        if not isinstance(spec, dict):
            self.fail(("match",), f"{where}`match` must be a mapping of field: condition")
            return record_tests, view_tests, exact
        known = FIELDS.get(source or "", frozenset())
        for key, value in spec.items():
            path = ("match", key)
            try:
                if key == "namespaces":
                    test = compile_namespaces(value, path)
                    record_tests.append(_on_namespace(test))
                elif key == "labels":
                    sel = compile_selector(value, path)
                    record_tests.append(_on_labels(sel))
                elif source is not None and key not in known:
                    self.fail(path, f"{where}unknown field `{key}` for source `{source}`{_suggest(key, known)}")
                else:
                    view_tests.append(compile_field(key, value, path))
                    values = exact_values(value)
                    if values is not None:
                        exact[key] = values
            except MatchError as exc:
                self.fail(exc.path, f"{where}{exc.message}")
        if det_type in ("any", "frequency") and "watch_type" not in spec:
            # An Event's DELETED is its TTL running out, not an occurrence.
            record_tests.append(lambda r: r.watch_type != "DELETED")
        return record_tests, view_tests, exact

    def _group_by(self, source: str | None, where: str) -> tuple[str, ...]:
        value = self.raw.get("group_by")
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or not value:
            self.fail(("group_by",), f"{where}`group_by` must be a list of field names")
            return ()
        known = FIELDS.get(source or "", frozenset())
        for i, f in enumerate(value):
            if source is not None and f not in known:
                self.fail(("group_by", i), f"{where}unknown field `{f}` in group_by for source `{source}`{_suggest(f, known)}")
        return tuple(value)

    def _duration(self, key: str, where: str) -> timedelta:
        return self._duration_value(self.raw.get(key), (key,), where) or timedelta(0)

    def _duration_value(self, value: Any, path: KeyPath, where: str, required: bool = False) -> timedelta | None:
        if value is None:
            if required:
                self.fail(path, f"{where}`{path[-1]}` is required (a duration like 30s, 5m, 1h)")
            return None
        try:
            return durations.parse(value)
        except ValueError as exc:
            self.fail(path, f"{where}`{path[-1]}`: {exc}")
            return None

    def _str_list(self, key: str, where: str) -> list[str]:
        value = self.raw.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail((key,), f"{where}`{key}` must be a list of names")
            return []
        return value

    def _templates(self, where: str) -> dict[str, str]:
        value = self.raw.get("template", {})
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            self.fail(("template",), f"{where}`template` must map a notifier name or type to template text")
            return {}
        return dict(value)

    def _bool(self, key: str, default: bool, where: str) -> bool:
        value = self.raw.get(key, default)
        if not isinstance(value, bool):
            self.fail((key,), f"{where}`{key}` must be true or false, got {value!r}")
            return default
        return value


def _on_namespace(test: Callable[[str], bool]) -> RecordTest:
    return lambda record: test(record.namespace)


def _on_labels(selector: Callable[[Mapping[str, str]], bool]) -> RecordTest:
    return lambda record: selector(record.labels)


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _suggest(word: Any, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(word), sorted(choices), n=1)
    return f" (did you mean `{close[0]}`?)" if close else ""
