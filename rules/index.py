"""Which rules a record can meet: rules indexed by the field most of them pin to a few values."""
from __future__ import annotations

from collections import Counter
from typing import Any

from rules.match import as_text
from rules.rule import Rule


class RuleIndex:
    """Rules of one source, indexed by the field most of them require to equal a few values
    (for Events: usually `reason`), so a record meets only rules that can match it. Order is
    kept: candidates come back in rule-file order."""

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules
        counts = Counter(f for r in rules for f in r.exact)
        self.field = counts.most_common(1)[0][0] if counts else None
        self.always: list[int] = []
        self.by_value: dict[str, list[int]] = {}
        for i, r in enumerate(rules):
            values = r.exact.get(self.field) if self.field else None
            if values is None:
                self.always.append(i)
            else:
                for v in values:
                    self.by_value.setdefault(v, []).append(i)

    def candidates(self, views: list[dict[str, Any]]) -> list[Rule]:
        if self.field is None:
            return self.rules
        hits: set[int] = set()
        for view in views:
            hits.update(self.by_value.get(as_text(view.get(self.field)), ()))
        if not hits:
            return [self.rules[i] for i in self.always]
        return [self.rules[i] for i in sorted(hits.union(self.always))]
