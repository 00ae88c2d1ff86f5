"""`rules test --expect FILE`: the alerts a rule file should produce for a recording.

    alerts:
      - rule: backoff-storm        # every key given must equal the alert's value
        status: firing
        key: shop/Pod/payment-api-x2x1z/BackOff
      - {rule: backoff-storm, status: resolved}
      - {rule: oom-killed, decision: inhibited, inhibited_by: endpoints-unhealthy}

Expected alerts must appear in this order; an extra or a missing alert is a mismatch. With
`-c` / `--silences` the decisions can be stated too: `decision` (sent, inhibited, silenced,
muted, unrouted), `robots` (a list), `inhibited_by` (the source's rule), `silenced_by` (a
silence id), `inhibited` (how many a source inhibited).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from rules.alert import Alert
from rules.yamldoc import YamlDocError, load_documents

KEYS = ("rule", "status", "severity", "key", "namespace", "kind", "name", "count", "workload")
DECISION_KEYS = ("decision", "robots", "inhibited_by", "silenced_by", "inhibited")


class ExpectationError(ValueError):
    pass


def load_expectations(path: str) -> list[dict[str, Any]]:
    """The expected alerts; anything unreadable is an `ExpectationError` naming file and line."""
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except OSError as exc:
        raise ExpectationError(f"{path}:0: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        line = exc.object.count(b"\n", 0, exc.start) + 1
        raise ExpectationError(f"{path}:{line}: not UTF-8 (byte 0x{exc.object[exc.start]:02x}); "
                               "expected a YAML file") from None
    try:
        docs = load_documents(text, path)
    except YamlDocError as exc:
        raise ExpectationError(" ".join(str(exc).split())) from None  # YAML's message spans lines
    if len(docs) > 1:
        raise ExpectationError(f"{path}:1: expected one YAML document, found {len(docs)}")
    data, lines = docs[0] if docs else ({}, None)
    items = data.get("alerts") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ExpectationError(f"{path}:1: expected a mapping with an `alerts` list")
    for i, item in enumerate(items):
        if not isinstance(item, dict) or any(k not in KEYS + DECISION_KEYS for k in item):
            line = lines.line(("alerts", i)) if lines else 1
            raise ExpectationError(f"{path}:{line}: each expected alert is a mapping of {', '.join(KEYS)} "
                                   f"(with -c or --silences also {', '.join(DECISION_KEYS)})")
    return items


def compare(expected: list[dict[str, Any]], actual: list[Alert],
            decisions: list[dict[str, Any]] | None = None) -> list[str]:
    """Mismatches, in order; `decisions` (one per alert, `Decision.values()`) when judged."""
    problems = []
    for i in range(max(len(expected), len(actual))):
        if i >= len(actual):
            problems.append(f"expected alert #{i + 1} {expected[i]} did not fire")
            continue
        got = actual[i]
        if i >= len(expected):
            problems.append(f"unexpected alert #{i + 1}: {got.rule} {got.status} {got.key}")
            continue
        for k, want in expected[i].items():
            if k in DECISION_KEYS and decisions is None:
                problems.append(f"alert #{i + 1}: `{k}` is decided only with -c or --silences")
                continue
            have = decisions[i][k] if k in DECISION_KEYS and decisions is not None else getattr(got, k)
            if _plain(have) != _plain(want):
                problems.append(f"alert #{i + 1}: {k} is {have!r}, expected {want!r}")
    return problems


def _plain(value: Any) -> Any:
    """Compared as text (YAML `count: 2` equals 2); lists item by item."""
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return str(value)
