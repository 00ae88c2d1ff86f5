from __future__ import annotations

from rules.engine import Engine
from rules.loader import load_rule_set, load_text
from tests.factories import at


def rules_from(text: str, *, builtins: bool = False):
    result = load_text(text, "test.yaml")
    assert result.ok, [str(p) for p in result.problems]
    if builtins:
        return load_rule_set([]).rules + result.rules
    return result.rules


def builtin_engine(start: float = 0) -> Engine:
    return Engine(load_rule_set([]).rules, stale_before=at(start))


def engine_for(text: str, start: float = 0) -> Engine:
    return Engine(rules_from(text), stale_before=at(start))
