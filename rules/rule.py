"""A loaded rule: what the loader builds from YAML and the engine runs."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable, Mapping

from rules.detectors import Detector

ViewTest = Callable[[Mapping[str, Any]], bool]
RecordTest = Callable[[Any], bool]


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    source: str
    """`event`, `pod` or `endpoints`."""
    detector: Detector
    severity: str = "warning"
    description: str = ""
    title: str = ""
    """Card title for the rule's alerts (the pack's Chinese titles); empty: derived by the card."""
    record_tests: tuple[RecordTest, ...] = ()
    """Tests on the whole record (namespaces, labels); run once per record."""
    view_tests: tuple[ViewTest, ...] = ()
    """Tests on a field view; a Pod matches when any container's view passes."""
    group_by: tuple[str, ...] = ()
    repeat_interval: timedelta = timedelta(0)
    """Instant detectors: further matches of an open key are folded into it for this long.
    Condition detectors: a still-firing incident is re-announced after this long (0 = never)."""
    for_: timedelta = timedelta(0)
    """Condition detectors: the condition must hold this long before the incident fires."""
    resolve_after: timedelta = timedelta(0)
    """Instant detectors: resolve the incident after this long without a match (0 = never)."""
    send_resolved: bool = True
    notify: tuple[str, ...] = ()
    templates: Mapping[str, str] = field(default_factory=dict)
    enabled: bool = True
    origin: str = ""
    """`file:line` where the rule was defined, for logs and `rules lint`."""
    fingerprint: str = ""
    """Digest of the rule as written: a reload keeps an unchanged rule's state."""
    detector_fingerprint: str = ""
    """Digest of source + detector spec: a reload that changes only match/severity/... keeps
    the detector's memory (e.g. which OOMs it has already seen)."""
    exact: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Fields the rule requires to equal one of a few values (from plain `match` values): the
    engine indexes rules by them so a record is tested only against rules that can match."""

    def matches(self, record: Any) -> bool:
        for test in self.record_tests:
            if not test(record):
                return False
        return True

    def matching_views(self, views: list[dict[str, Any]]) -> list[dict[str, Any]]:
        tests = self.view_tests
        if not tests:
            return views
        out = []
        for v in views:
            for test in tests:
                if not test(v):
                    break
            else:
                out.append(v)
        return out

    def key_for(self, view: Mapping[str, Any]) -> str:
        return "/".join(_key_part(view.get(f)) for f in self.group_by)


def _key_part(value: Any) -> str:
    if value is None:
        return "-"
    return str(value)
