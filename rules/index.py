"""Which rules a record meets, decided per field value instead of per rule.

Every `match` field test is pure: its verdict depends on one field's value alone
(`rules.match.FieldTest`). So the index of a source keeps one table per field that some rule
tests: value -> bitmask of the rules whose test on that field passes (rules that do not test
the field always pass). A view's matching rules are the AND of its fields' masks: a few dict
lookups per view whatever the number of rules, and each distinct value (a reason, a message,
a count) is tested against the rules once and then remembered. A record no rule wants costs
those lookups and nothing more.

Why not an index on one field (`reason`)? A rule with a regex, a negation or a comparison has
no value to be filed under, so it met every record; with 50 rules a record met ~12 rules and
failed most of them one test at a time. Per-value tables serve every kind of test.

Tests that do not say which field they read (not a `FieldTest`) are run per rule and per view,
after the tables, so a hand-made rule still matches exactly as it did.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from rules.match import FieldTest
from rules.rule import Rule

View = Mapping[str, Any]
Predicate = Callable[[Any], bool]

#: Distinct values remembered per field; past it the table starts over (messages can be many).
MEMO_LIMIT = 4096


def _memo_key(value: Any) -> Any:
    """A dict key that keeps apart values `match` tells apart: True == 1 == 1.0 in a dict, but
    a rule compares `true`, `1` and `1.0`."""
    cls = value.__class__
    return value if cls is str or cls is int else (cls, value)


class FieldTable:
    """One field's verdicts for all rules of a source: value -> bitmask of rules that pass."""

    __slots__ = ("field", "_tests", "_untested", "memo")

    def __init__(self, field: str, tests: Mapping[int, Sequence[Predicate]], everyone: int) -> None:
        self.field = field
        self._tests = tuple((bit, tuple(preds)) for bit, preds in tests.items())
        tested = 0
        for bit in tests:
            tested |= bit
        self._untested = everyone & ~tested
        self.memo: dict[Any, int] = {}
        """Value (`_memo_key`) -> mask; cleared, never replaced (`RuleIndex.view_mask` holds it)."""

    def mask(self, value: Any) -> int:
        try:
            key = _memo_key(value)
            return self.memo[key]
        except KeyError:
            pass
        except TypeError:  # unhashable: decide without remembering
            return self.decide(value)
        memo = self.memo
        if len(memo) >= MEMO_LIMIT:
            memo.clear()
        mask = memo[key] = self.decide(value)
        return mask

    def decide(self, value: Any) -> int:
        mask = self._untested
        for bit, preds in self._tests:
            if all(p(value) for p in preds):
                mask |= bit
        return mask


class RuleIndex:
    """The rules of one source, compiled into per-field tables. Candidates come back in
    rule-file order, each with the views it matches."""

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules
        everyone = (1 << len(rules)) - 1
        by_field: dict[str, dict[int, list[Predicate]]] = {}
        self._opaque: dict[int, tuple[Callable[[View], bool], ...]] = {}
        occurrence_rules = 0
        for i, rule in enumerate(rules):
            bit = 1 << i
            opaque = []
            for test in rule.view_tests:
                if isinstance(test, FieldTest):
                    by_field.setdefault(test.field, {}).setdefault(bit, []).append(test.predicate)
                else:
                    opaque.append(test)
            if opaque:
                self._opaque[bit] = tuple(opaque)
            if rule.detector.counts_occurrences:
                occurrence_rules |= bit
        # Fields most rules test first: their masks are the likeliest to empty the result early.
        fields = sorted(by_field, key=lambda f: -len(by_field[f]))
        self._tables = tuple(FieldTable(f, by_field[f], everyone) for f in fields)
        self._lookups = tuple((t.field, t.memo, t) for t in self._tables)
        self._everyone = everyone
        self._without_occurrences = everyone & ~occurrence_rules
        """Rules that may act on a record that is no occurrence (a deletion, an Event update
        that does not raise its count): the others are left out of such records up front."""
        self.acts_without_occurrences = bool(self._without_occurrences)
        """False when every rule only counts occurrences: `matching` finds none for a record
        that is no occurrence, and the engine need not even build its views."""
        self._opaque_bits = sum(self._opaque)
        self._chosen: dict[int, tuple[tuple[int, Rule], ...]] = {}

    def matching(self, views: list[dict[str, Any]], occurrences: int) -> list[tuple[Rule, list[dict[str, Any]]]]:
        """The rules whose view tests pass on at least one of `views`, in rule order, each with
        the views it matches; rules that only count occurrences are skipped when there are none."""
        wanted = self._everyone if occurrences > 0 else self._without_occurrences
        if len(views) == 1:
            mask = self.view_mask(views[0], wanted)
            return [(rule, views) for _, rule in self._rules_of(mask)] if mask else []
        masks = [self.view_mask(v, wanted) for v in views]
        union = 0
        for m in masks:
            union |= m
        if not union:
            return []
        return [(rule, [v for v, m in zip(views, masks) if m & bit]) for bit, rule in self._rules_of(union)]

    def view_mask(self, view: View, wanted: int) -> int:
        """Bitmask of the rules (among `wanted`) whose view tests all pass on `view`."""
        mask = wanted
        get = view.get
        # `FieldTable.mask` inlined for a remembered value (nearly every lookup): a call less
        # per tested field and view, ~3 per record.
        for field, memo, table in self._lookups:
            value = get(field)
            cls = value.__class__
            try:
                mask &= memo[value if cls is str or cls is int else (cls, value)]
            except (KeyError, TypeError):
                mask &= table.mask(value)
            if not mask:
                return 0
        if mask & self._opaque_bits:
            for bit, tests in self._opaque.items():
                if mask & bit and not all(t(view) for t in tests):
                    mask &= ~bit
        return mask

    def _rules_of(self, mask: int) -> tuple[tuple[int, Rule], ...]:
        """(bit, rule) for each rule in `mask`, in rule order; remembered per mask."""
        chosen = self._chosen.get(mask)
        if chosen is None:
            rules = self.rules
            chosen = tuple((1 << i, rules[i]) for i in range(mask.bit_length()) if mask >> i & 1)
            if len(self._chosen) >= MEMO_LIMIT:
                self._chosen.clear()
            self._chosen[mask] = chosen
        return chosen
