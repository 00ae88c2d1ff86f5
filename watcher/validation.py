"""The one validation of a rule set, shared by `run`, hot reload, `config check` and `rules lint`.

The loader (`rules/`, pure) checks each rule on its own. What it cannot check lives here: that
the rules' Jinja templates compile (Jinja belongs to `notifiers/`) and that every name in
`notify` is a configured notifier. If the checkers ran a different path than the daemon, a
file that `config check` passed could still be refused at start or on reload. Every problem
names `file:line` of the offending key: the name inside `notify:`, the line of the template text.
"""
from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Collection, Iterable

from notifiers import check_template
from rules.loader import LoadResult, load_rule_set
from rules.rule import Rule
from rules.yamldoc import Problem

_TEMPLATE_LINE = re.compile(r"^line (\d+): ")


def check_rules(paths: Iterable[str | Path], *, builtins: bool, notifiers: Collection[str] | None,
                packs: Iterable[str] = ()) -> LoadResult:
    """Load `paths` (the built-in rules if `builtins`, the pack rules `packs` switches on, and
    any a file switches on by name) and check them completely.

    `notifiers` are the configured notifier names; None (no config at hand, as in `rules lint`
    without `-c`) skips the name check. The result has rules only if there is no problem."""
    loaded = load_rule_set(paths, builtins=builtins, packs=packs)
    problems = loaded.problems + rule_problems(loaded.rules, notifiers)
    return LoadResult(rules=[] if problems else loaded.rules, problems=problems)


def rule_problems(rules: Iterable[Rule], notifiers: Collection[str] | None) -> list[Problem]:
    """Checks that need more than the rule itself: templates, and notifier names if known."""
    problems: list[Problem] = []
    for rule in rules:
        if notifiers is not None:
            problems.extend(_unknown_notifiers(rule, notifiers))
        for target, text in rule.templates.items():
            problem = _template_problem(rule, target, text)
            if problem is not None:
                problems.append(problem)
    return problems


def _unknown_notifiers(rule: Rule, notifiers: Collection[str]) -> list[Problem]:
    out = []
    defined = ", ".join(sorted(notifiers)) or "none"
    for i, name in enumerate(rule.notify):
        if name in notifiers:
            continue
        close = difflib.get_close_matches(name, sorted(notifiers), n=1)
        hint = f" (did you mean `{close[0]}`?)" if close else ""
        out.append(Problem(*rule.location("notify", i),
                           f"rule `{rule.name}` notifies unknown notifier `{name}`{hint}; defined: {defined}"))
    return out


def _template_problem(rule: Rule, target: str, text: str) -> Problem | None:
    try:
        error = check_template(text)
    except Exception as exc:  # a hostile template (e.g. nested past the parser's depth) is a problem, not a crash
        error = f"cannot compile: {exc.__class__.__name__}"
    if error is None:
        return None
    m = _TEMPLATE_LINE.match(error)
    file, line = rule.location("template", target, text_line=int(m.group(1)) if m else None)
    return Problem(file, line, f"rule `{rule.name}` template for `{target}`: {error}")
