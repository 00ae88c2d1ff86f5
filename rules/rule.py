"""A loaded rule: what the loader builds from YAML and the engine runs."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from operator import itemgetter
from typing import Any, Callable, Mapping

from rules.detectors import Detector
from rules.model import Record
from rules.yamldoc import KeyPath

ViewTest = Callable[[Mapping[str, Any]], bool]
RecordTest = Callable[[Record], bool]


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
    key_lines: Mapping[KeyPath, int] = field(default_factory=dict, compare=False, repr=False)
    """Line of every key and item under the rule (path relative to it, e.g. `("notify", 1)`),
    so checks made after loading (notifier names, templates) name the offending line."""
    text_lines: Mapping[KeyPath, int] = field(default_factory=dict, compare=False, repr=False)
    """First text line of each literal block (`|`) under the rule: its lines are the file's."""
    exact: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Fields the rule requires to equal one of a few values (from plain `match` values). The
    engine no longer reads it: `rules.index` decides every field test per value, plain or not."""
    _key_values: Callable[[Mapping[str, Any]], Any] = field(init=False, compare=False, repr=False)
    """`group_by`'s values of a view in one C call (`key_for` runs once per rule and view)."""

    def __post_init__(self) -> None:
        # A 1-tuple so that one field and several read alike (itemgetter of one returns the value).
        getter = itemgetter(*self.group_by) if len(self.group_by) > 1 else \
            (lambda view, f=self.group_by[0]: (view[f],)) if self.group_by else (lambda view: ())
        object.__setattr__(self, "_key_values", getter)

    def location(self, *path: str | int, text_line: int | None = None) -> tuple[str, int]:
        """(file, line) of `path` under the rule (or of its nearest ancestor that has one); with
        `text_line` (1-based, inside a literal block's text) the file line of that text line."""
        file, _, line = self.origin.rpartition(":")
        if path in self.text_lines and text_line is not None:
            return file, self.text_lines[path] + text_line - 1
        while path and path not in self.key_lines:
            path = path[:-1]
        return file, self.key_lines.get(path, int(line) if line.isdigit() else 0)

    def matches(self, record: Record) -> bool:
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
        """`group_by`'s values joined by `/` (`-` for a missing or null one). A view has every field
        of its source and they are mostly strings: joined as they are, else one by one."""
        try:
            return "/".join(self._key_values(view))
        except (KeyError, TypeError):
            return "/".join([_key_part(view.get(f)) for f in self.group_by])


def _key_part(value: Any) -> str:
    if value is None:
        return "-"
    return str(value)
