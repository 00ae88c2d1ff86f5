"""Rules shipped with the package beside the two built-ins: rule packs, off until switched on.

A pack is a directory of rule files under `rules/packs/` (package data), e.g. `common`: the
failures every cluster has, each rule with a recording in examples/recordings/pack/. A pack
rule runs only when the config's `rules.packs` names its pack (`common`) or the rule
(`common/job-failed`), or when a user rule file switches it on by name with a `Switch`
(`{name: job-failed, enabled: true}`, which also switches a built-in off with `false`), so
upgrading never starts paging anyone with rules they did not ask for.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping

from rules.yamldoc import Problem

if TYPE_CHECKING:
    from rules.rule import Rule


@dataclass(frozen=True)
class Switch:
    """A user file's `{name: <shipped rule>, enabled: true|false}`: turns a built-in or pack rule
    on or off without restating it."""

    name: str
    enabled: bool
    origin: Problem
    """Where it was written (a Problem, so a bad name is reported as `file:line`)."""


def pack_names() -> list[str]:
    """The rule packs shipped with the package: the directories of `rules/packs/`."""
    base = resources.files("rules") / "packs"
    return sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))


def pack_paths(pack: str) -> list[Path]:
    base = resources.files("rules") / "packs" / pack
    return sorted(Path(str(p)) for p in base.iterdir() if p.name.endswith((".yaml", ".yml")))


def pack_of(rule: "Rule") -> str:
    """The pack a pack rule came from: the directory of its file."""
    return Path(rule.origin.rsplit(":", 1)[0]).parent.name


def chosen(pack_rules: Iterable["Rule"], packs: Iterable[str]) -> set[str]:
    """The names of the pack rules `packs` (the config's `rules.packs`) switches on."""
    wanted = set(packs)
    return {r.name for r in pack_rules if pack_of(r) in wanted or f"{pack_of(r)}/{r.name}" in wanted}


def apply_switches(switches: Iterable[Switch], rules: Mapping[str, "Rule"], on: set[str]) -> list[Problem]:
    """Turn shipped rules on or off in `on` as the user's switches say; a switch naming no
    shipped rule is a problem at its line."""
    problems = []
    for switch in switches:
        if switch.name not in rules:
            state = "on" if switch.enabled else "off"
            problems.append(Problem(switch.origin.file, switch.origin.line, (
                f"rule `{switch.name}`: no built-in or pack rule of that name to switch {state}"
                f"{_suggest(switch.name, rules)}; a new rule needs `source` and `detector`")))
        elif switch.enabled:
            on.add(switch.name)
        else:
            on.discard(switch.name)
    return problems


def unknown_switches(switches: Iterable[Switch]) -> list[Problem]:
    """`rules lint`: the switches in the linted files that name no built-in or pack rule."""
    from rules.loader import builtin_paths, load_files  # the loader uses this module: imported when called

    paths = [*builtin_paths(), *(p for pack in pack_names() for p in pack_paths(pack))]
    return apply_switches(switches, {r.name: r for r in load_files(paths).rules}, set())


def unknown_packs(packs: Iterable[str]) -> list[tuple[int, str]]:
    """(index, message) for each `rules.packs` entry that names no pack or pack rule."""
    from rules.loader import load_files  # the loader uses this module: imported when called

    names = pack_names()
    rules_of = {pack: {r.name for r in load_files(pack_paths(pack)).rules} for pack in names}
    out = []
    for i, entry in enumerate(packs):
        pack, _, rule = str(entry).partition("/")
        if pack not in rules_of:
            out.append((i, f"no rule pack `{pack}`{_suggest(pack, names)}; shipped: {', '.join(names)}"))
        elif rule and rule not in rules_of[pack]:
            out.append((i, f"pack `{pack}` has no rule `{rule}`{_suggest(rule, rules_of[pack])}"))
    return out


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1)
    return f" (did you mean `{close[0]}`?)" if close else ""
