"""What `kube-event-alerter events` asks for, as one value both stores answer.

The history lives in Elasticsearch when it is configured and in SQLite otherwise; the same
`Query` goes to either (`watcher.search.es_store`, `watcher.search.sqlite_store`) and must
get the same answer, so its meaning is defined here once, per document kind:

- time: the document's `@timestamp` (an Event's last occurrence, a termination's finishedAt,
  an endpoint change's trigger time) within [`start`, `end`];
- `level`: events only, the Event `type` (Warning / Normal);
- `namespace`, `reason`: equality (`reason`: events and terminations);
- `object`: `KIND/NAME` or `NAME` — events: the involved object; endpoints: the Service;
  terminations: the Pod, or its workload (`Deployment/web`);
- `words`: each word must occur, ignoring case, as a substring of one of the kind's
  `TEXT_FIELDS` (so Chinese text and IP addresses are found as typed); a message longer than
  `KEYWORD_LIMIT` characters is not searched (Elasticsearch keeps no keyword for it);
- events: an Event is one row, its newest document (each count bump is a document of its own).
Newest first, at most `limit` rows.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Optional
from zoneinfo import ZoneInfo

from rules import durations

KINDS = ("events", "endpoints", "terminations")
LEVELS = ("Warning", "Normal", "all")
TEXT_FIELDS = {
    "events": ("message", "reason", "name"),
    "endpoints": ("service", "change"),
    "terminations": ("message", "reason", "pod", "container"),
}
#: The mapping's `ignore_above` for `message.keyword` (watcher/es/templates.py).
KEYWORD_LIMIT = 2048
#: The secondary sort key per kind, after `@timestamp` (newest first): rows of the same second
#: come back in the same order from both stores.
TIEBREAK = {"events": "event_uid", "endpoints": "resource_version", "terminations": "container_id"}
DEFAULT_SINCE = timedelta(weeks=1)
#: Elasticsearch's default `index.max_result_window`: a bigger page is refused there.
MAX_LIMIT = 10_000


class QueryError(ValueError):
    """A search the user asked for that cannot mean anything (the message says which flag)."""


@dataclass(frozen=True)
class Query:
    kind: str = "events"
    start: Optional[datetime] = None
    end: Optional[datetime] = None
    level: str = "all"
    namespace: str = ""
    reason: str = ""
    object_kind: str = ""
    object_name: str = ""
    words: tuple[str, ...] = field(default_factory=tuple)
    limit: int = 100

    def filters(self) -> list[tuple[str, str]]:
        """(field, value) pairs the documents must equal, for this kind."""
        if self.kind == "events":
            pairs = [("type", "" if self.level == "all" else self.level), ("reason", self.reason),
                     ("kind", self.object_kind), ("name", self.object_name)]
        elif self.kind == "terminations":
            by_pod = self.object_kind in ("", "Pod")
            pairs = [("reason", self.reason)] + ([("pod", self.object_name)] if by_pod else [
                ("workload_kind", self.object_kind), ("workload_name", self.object_name)])
        else:
            pairs = [("service", self.object_name)]
        return [(name, value) for name, value in [("namespace", self.namespace), *pairs] if value]


def build_query(kind: str = "events", *, level: str = "all", since: str = "", start: str = "", end: str = "",
                namespace: str = "", reason: str = "", obj: str = "", words: str = "", limit: int = 100,
                now: datetime, tz: ZoneInfo) -> Query:
    """The CLI's flags as a `Query`; a `QueryError` names the flag that makes no sense.
    Without a time flag the last `DEFAULT_SINCE` (a week) is searched."""
    level = {"warning": "Warning", "normal": "Normal", "all": "all"}.get(level.lower(), level)
    _check_flags(kind, level=level, reason=reason, timed=bool(start or end), since=since, limit=limit)
    object_kind, _, object_name = obj.rpartition("/")
    if obj and not object_name:
        raise QueryError(f"--object: expected KIND/NAME or NAME, got {obj!r}")
    if kind == "endpoints" and object_kind not in ("", "Service"):
        raise QueryError("--object: endpoint history is per Service (Service/NAME or NAME)")
    return Query(kind=kind, level=level, namespace=namespace, reason=reason, object_kind=object_kind,
                 object_name=object_name, words=tuple(words.split()), limit=limit,
                 **_time_range(since, start, end, now=now, tz=tz))


def _check_flags(kind: str, *, level: str, reason: str, timed: bool, since: str, limit: int) -> None:
    if kind not in KINDS:
        raise QueryError(f"unknown history `{kind}`: expected one of {', '.join(KINDS)}")
    if level not in LEVELS:
        raise QueryError(f"--level: expected Warning, Normal or all, got {level!r}")
    if level != "all" and kind != "events":
        raise QueryError("--level applies to events only (the Event type)")
    if reason and kind == "endpoints":
        raise QueryError("--reason applies to events and terminations; endpoint changes have none")
    if since and timed:
        raise QueryError("give --since or --from/--to, not both")
    if not 1 <= limit <= MAX_LIMIT:
        raise QueryError(f"--limit: expected a whole number from 1 to {MAX_LIMIT}, got {limit}")


def _time_range(since: str, start: str, end: str, *, now: datetime, tz: ZoneInfo) -> dict[str, Optional[datetime]]:
    if start or end:
        lower = parse_time(start, tz, flag="--from") if start else None
        upper = parse_time(end, tz, flag="--to", end_of_day=True) if end else None
        if lower and upper and upper < lower:
            raise QueryError("--to is before --from")
        return {"start": lower, "end": upper}
    try:
        window = durations.parse(since) if since else DEFAULT_SINCE
    except ValueError as exc:
        raise QueryError(f"--since: {exc}") from None
    return {"start": now - window, "end": None}


def parse_time(text: str, tz: ZoneInfo, *, flag: str, end_of_day: bool = False) -> datetime:
    """ISO 8601 (`2026-11-24T09:30`, `2026-11-24 09:30:00+08:00`) or a date (`2026-11-24`:
    its start, or for `--to` its end); without an offset, in the config's time zone."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise QueryError(f"{flag}: expected a date or time like 2026-11-24 or 2026-11-24T09:30, got {text!r}") from None
    if end_of_day and len(text.strip()) == 10:
        value += timedelta(days=1) - timedelta(microseconds=1)
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(timezone.utc)
