"""Silences: "send nothing for alerts like these until then", made by a person during
maintenance or an outage (issue 11).

Alertmanager's model in the project's terms: a silence is a set of matchers (the routing tree's
`routes.Matcher`, so `namespace=shop-*`, `labels.team=pay`, `rule=~oom.*` mean the same in both
places) plus a start, an end, an author and a comment. It silences an alert while it is active
(`starts_at <= now < ends_at`) and all its matchers hold. Expiring a silence early sets its end
to now; it is kept (and listed as expired) for a while, never edited otherwise.

Pure: no I/O, the time is passed in. The stores (watcher/silences/) persist `to_dict()` and
hand the notify stage an immutable `Silences` snapshot; `from_dict` is the one gate for data
from a file, Elasticsearch or the HTTP API, and names the field it refuses.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Iterable, Iterator, Literal, Mapping

from rules.alert import Alert

from .routes import Matcher, parse_matcher

SilenceState = Literal["pending", "active", "expired"]
_TEXT_FIELDS = ("id", "created_by", "comment")
_TIME_FIELDS = ("starts_at", "ends_at", "created_at")


@dataclass(frozen=True, slots=True)
class Silence:
    """One silence. Times are timezone-aware; `ends_at >= starts_at` (equal only for a
    silence expired before it started)."""

    id: str
    """A uuid4 string: made by whoever creates the silence, so replicas never collide."""
    matchers: tuple[Matcher, ...]
    """All must hold; never empty (a silence of everything is refused)."""
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    created_at: datetime

    def __post_init__(self) -> None:
        if not self.matchers:
            raise ValueError("silence field `matchers`: at least one matcher is required "
                             "(a silence without matchers would silence every alert)")
        for name in _TIME_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, datetime) or value.tzinfo is None:
                raise ValueError(f"silence field `{name}`: expected a timezone-aware time, got {value!r}")
        if self.ends_at < self.starts_at:
            raise ValueError(f"silence field `ends_at`: {self.ends_at.isoformat()} is before "
                             f"starts_at {self.starts_at.isoformat()}")

    @classmethod
    def create(cls, matchers: Iterable[Matcher | str], *, starts_at: datetime, ends_at: datetime,
               created_by: str, comment: str, now: datetime) -> "Silence":
        """A new silence with a fresh id, as the API and the CLI make one: it must end after
        it starts and after `now` (a silence that is already over would do nothing)."""
        parsed = tuple(_matcher(m, i) for i, m in enumerate(matchers))
        if ends_at <= starts_at:
            raise ValueError(f"silence field `ends_at`: must be after starts_at {starts_at.isoformat()}")
        if ends_at <= now:
            raise ValueError(f"silence field `ends_at`: {ends_at.isoformat()} is already past")
        return cls(id=str(uuid.uuid4()), matchers=parsed, starts_at=starts_at, ends_at=ends_at,
                   created_by=created_by, comment=comment, created_at=now)

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def state(self, now: datetime) -> SilenceState:
        if now < self.starts_at:
            return "pending"
        return "active" if now < self.ends_at else "expired"

    def matches(self, alert: Alert) -> bool:
        return all(m.matches(alert) for m in self.matchers)

    def expired(self, now: datetime) -> "Silence":
        """This silence ended at `now` (a pending one never starts); unchanged if already over."""
        if self.ends_at <= now:
            return self
        return replace(self, starts_at=min(self.starts_at, now), ends_at=now)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: matchers as the strings `parse_matcher` reads, times as ISO 8601."""
        return {"id": self.id, "matchers": [str(m) for m in self.matchers],
                "starts_at": self.starts_at.isoformat(), "ends_at": self.ends_at.isoformat(),
                "created_by": self.created_by, "comment": self.comment,
                "created_at": self.created_at.isoformat()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Silence":
        """The silence `to_dict` wrote; ValueError naming the field for anything else."""
        if not isinstance(d, Mapping):
            raise ValueError(f"silence: expected a mapping, got {type(d).__name__}")
        silence_id, created_by, comment = (_text(d, name) for name in _TEXT_FIELDS)
        if not silence_id:
            raise ValueError("silence field `id`: must not be empty")
        raw = d.get("matchers")
        if not isinstance(raw, list):
            raise ValueError('silence field `matchers`: expected a list like ["namespace=shop"], '
                             f"got {raw!r}")
        starts_at, ends_at, created_at = (_time(d, name) for name in _TIME_FIELDS)
        return cls(id=silence_id, matchers=tuple(_matcher(m, i) for i, m in enumerate(raw)),
                   starts_at=starts_at, ends_at=ends_at, created_by=created_by, comment=comment,
                   created_at=created_at)


def _text(d: Mapping[str, Any], name: str) -> str:
    value = d.get(name)
    if not isinstance(value, str):
        raise ValueError(f"silence field `{name}`: expected a string, got {value!r}")
    return value


ZONED_EXAMPLE = "2026-12-01T03:00:00+08:00"


def zoned_time(value: Any) -> datetime | None:
    """An ISO 8601 time with a zone (a silence's times are instants), else None."""
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return parsed if parsed is not None and parsed.tzinfo is not None else None


def _time(d: Mapping[str, Any], name: str) -> datetime:
    value = d.get(name)
    parsed = zoned_time(value)
    if parsed is None:
        raise ValueError(f"silence field `{name}`: expected an ISO 8601 time with a zone, "
                         f"like {ZONED_EXAMPLE}, got {value!r}")
    return parsed


def _matcher(value: Matcher | str, index: int) -> Matcher:
    if isinstance(value, Matcher):
        return value
    if not isinstance(value, str):
        raise ValueError(f"silence field `matchers[{index}]`: expected a string like "
                         f"namespace=shop, got {value!r}")
    try:
        return parse_matcher(value)
    except ValueError as exc:
        raise ValueError(f"silence field `matchers[{index}]`: {exc}") from None


class Silences:
    """An immutable snapshot of the known silences (active, pending and expired)."""

    __slots__ = ("_silences",)

    def __init__(self, silences: Iterable[Silence] = ()) -> None:
        self._silences: tuple[Silence, ...] = tuple(silences)

    def silencing(self, alert: Alert, now: datetime) -> Silence | None:
        """The active silence that matches `alert` and ends last (ties: the smallest id, so
        every replica reports the same one); None when nothing silences it."""
        found = [s for s in self._silences if s.active(now) and s.matches(alert)]
        if not found:
            return None
        return min(found, key=lambda s: (-s.ends_at.timestamp(), s.id))

    def get(self, silence_id: str) -> Silence | None:
        return next((s for s in self._silences if s.id == silence_id), None)

    def __iter__(self) -> Iterator[Silence]:
        return iter(self._silences)

    def __len__(self) -> int:
        return len(self._silences)

    def __repr__(self) -> str:
        return f"Silences({len(self._silences)})"
