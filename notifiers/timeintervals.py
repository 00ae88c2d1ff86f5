"""Named time intervals (`time_intervals:` in the config), for routes that are muted or active
only at some times: "info alerts only in working hours", "this team is quiet on Sundays".

The semantics are Alertmanager's `time_interval`: a name stands for a list of intervals and a
time is in the name if it is in any of them; within one interval every field that is given must
hold (`times` of day, `weekdays`, `days_of_month`, `months`, `years`), an absent field holds
always. Each is judged on the wall clock of the interval's `location` (an IANA zone; default the
config's `timezone`, where Alertmanager defaults to UTC), so "09:00-18:00 Asia/Shanghai" is
working hours in Shanghai whatever zone the daemon runs in, and a zone with daylight saving
keeps its wall-clock hours across the change. Pure: the time is passed in.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Mapping
from zoneinfo import ZoneInfo

KeyPath = tuple[str | int, ...]
Problems = list[tuple[KeyPath, str]]
"""(key path from the config's top level, message): the caller adds file and line."""

WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december")
INTERVAL_KEYS = ("times", "weekdays", "days_of_month", "months", "years", "location")

_CLOCK = re.compile(r"(?:([01]\d|2[0-3]):([0-5]\d)|(24):(00))")
Range = tuple[int, int]
_RANGE = re.compile(r"(-?\w+)(?::(-?\w+))?")


@dataclass(frozen=True, slots=True)
class TimeInterval:
    """One interval: every given field holds. Ranges are inclusive, except `times` (end excluded)."""

    times: tuple[Range, ...] = ()
    """Minutes since local midnight, [start, end)."""
    weekdays: tuple[Range, ...] = ()
    """0 = Sunday ... 6 = Saturday, as Alertmanager counts."""
    days_of_month: tuple[Range, ...] = ()
    """1..31, or negative from the month's end (-1 = the last day)."""
    months: tuple[Range, ...] = ()
    years: tuple[Range, ...] = ()
    location: str = "UTC"

    def contains(self, now: datetime) -> bool:
        local = _aware(now).astimezone(ZoneInfo(self.location))
        minute = local.hour * 60 + local.minute
        weekday = (local.weekday() + 1) % 7
        return (_any(self.times, lambda r: r[0] <= minute < r[1])
                and _any(self.weekdays, lambda r: r[0] <= weekday <= r[1])
                and _any(self.days_of_month, lambda r: _day_in(r, local))
                and _any(self.months, lambda r: r[0] <= local.month <= r[1])
                and _any(self.years, lambda r: r[0] <= local.year <= r[1]))


def in_any(intervals: tuple[TimeInterval, ...], now: datetime) -> bool:
    """Whether `now` is in the named interval list (in any one of its intervals)."""
    return any(i.contains(now) for i in intervals)


def _aware(now: datetime) -> datetime:
    return now if now.tzinfo is not None else now.replace(tzinfo=timezone.utc)


def _any(ranges: tuple[Range, ...], test: Callable[[Range], bool]) -> bool:
    return not ranges or any(test(r) for r in ranges)


def _day_in(days: Range, local: datetime) -> bool:
    """Alertmanager's rule: negative days count from the month's end; a range that starts
    after the month's last day (31 in February) does not hold; the end is clamped."""
    last = _days_in_month(local.year, local.month)
    begin, end = (d if d > 0 else last + d + 1 for d in days)
    if begin > last:
        return False
    return max(begin, 1) <= local.day <= min(end, last)


def _days_in_month(year: int, month: int) -> int:
    following = datetime(year + month // 12, month % 12 + 1, 1)
    return (following - datetime(year, month, 1)).days


# -- parsing ------------------------------------------------------------------------------------


def parse_time_intervals(raw: Any, *, default_location: str, problems: Problems,
                         path: KeyPath = ("time_intervals",)) -> dict[str, tuple[TimeInterval, ...]]:
    """`time_intervals:` (name -> list of intervals) parsed; each problem appended with its path."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        problems.append((path, "expected a mapping of name: [intervals]"))
        return {}
    out: dict[str, tuple[TimeInterval, ...]] = {}
    for name, items in raw.items():
        where = (*path, name)
        if isinstance(items, Mapping):
            items = [items]
        if not isinstance(items, list) or not items:
            problems.append((where, "expected a list of intervals (times, weekdays, days_of_month, months, years, location)"))
            continue
        out[str(name)] = tuple(_interval(item, default_location, problems, (*where, i)) for i, item in enumerate(items))
    return out


def _interval(raw: Any, default_location: str, problems: Problems, path: KeyPath) -> TimeInterval:
    if not isinstance(raw, Mapping):
        problems.append((path, f"expected a mapping with any of {', '.join(INTERVAL_KEYS)}"))
        return TimeInterval(location="UTC")
    for key in raw:
        if key not in INTERVAL_KEYS:
            problems.append(((*path, key), f"unknown key `{key}`{suggest(key, INTERVAL_KEYS)}; "
                                           f"expected one of {', '.join(INTERVAL_KEYS)}"))
    if "location" in raw:
        location = _location(raw["location"], problems, (*path, "location"))
    else:  # a bad default (the config's `timezone`) is reported where it is written, by the caller
        location = _location(default_location, [], path)
    return TimeInterval(
        times=_times(raw.get("times"), problems, (*path, "times")),
        weekdays=_ranges(raw.get("weekdays"), _named(WEEKDAYS, 0), problems, (*path, "weekdays")),
        days_of_month=_ranges(raw.get("days_of_month"), _day_of_month, problems, (*path, "days_of_month")),
        months=_ranges(raw.get("months"), _named(MONTHS, 1, numbers=True), problems, (*path, "months")),
        years=_ranges(raw.get("years"), _year, problems, (*path, "years")),
        location=location)


def _location(value: Any, problems: Problems, path: KeyPath) -> str:
    try:
        ZoneInfo(str(value))
    except (ValueError, KeyError, OSError):  # ZoneInfoNotFoundError is a KeyError
        problems.append((path, f"unknown time zone {value!r} (expected an IANA name like Asia/Shanghai)"))
        return "UTC"
    return str(value)


def _times(raw: Any, problems: Problems, path: KeyPath) -> tuple[Range, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problems.append((path, "expected a list of {start_time: HH:MM, end_time: HH:MM}"))
        return ()
    out = []
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping) or set(item) != {"start_time", "end_time"}:
            problems.append(((*path, i), "expected {start_time: HH:MM, end_time: HH:MM}"))
            continue
        start, end = (_clock(item[k], problems, (*path, i, k)) for k in ("start_time", "end_time"))
        if start is not None and end is not None:
            if start >= end:
                problems.append(((*path, i), f"start_time {item['start_time']} must be before end_time {item['end_time']}"))
            else:
                out.append((start, end))
    return tuple(out)


def _clock(value: Any, problems: Problems, path: KeyPath) -> int | None:
    m = _CLOCK.fullmatch(str(value)) if isinstance(value, str) else None
    if m is None:  # YAML 1.1 reads an unquoted 09:00 as a sexagesimal number: say so
        problems.append((path, f"expected a time of day \"HH:MM\" from 00:00 to 24:00 (quoted), got {value!r}"))
        return None
    hour, minute = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
    return int(hour) * 60 + int(minute)


def _ranges(raw: Any, one: Callable[[str], int], problems: Problems, path: KeyPath) -> tuple[Range, ...]:
    """`["monday:friday", "sunday"]`, `[1, "-3:-1"]`: single values or `begin:end` ranges."""
    if raw is None:
        return ()
    items = raw if isinstance(raw, list) else [raw]
    out = []
    for i, item in enumerate(items):
        m = _RANGE.fullmatch(str(item).strip().lower())
        if m is None:
            problems.append(((*path, i), f"{item!r}: expected a value or a range `begin:end`"))
            continue
        begin_text, end_text = m.group(1), m.group(2) or m.group(1)
        try:
            begin, end = one(begin_text), one(end_text)
            _check_order(begin, end)
        except ValueError as exc:
            problems.append(((*path, i), f"{item!r}: {exc}"))
            continue
        out.append((begin, end))
    return tuple(out)


def _check_order(begin: int, end: int) -> None:
    if (begin < 0) == (end < 0) and begin > end:
        raise ValueError("the range's start is after its end")
    if begin < 0 < end:
        raise ValueError("a range from the month's end cannot end at a day counted from its start")


def _named(names: tuple[str, ...], first: int, *, numbers: bool = False) -> Callable[[str], int]:
    """A parser of `names` (numbered from `first`); with `numbers`, their numbers too (months)."""
    def parse(text: str) -> int:
        if text in names:
            return names.index(text) + first
        if numbers and text.isdigit() and first <= int(text) < first + len(names):
            return int(text)
        also = f" or {first} to {first + len(names) - 1}" if numbers else ""
        raise ValueError(f"expected one of {', '.join(names)}{also}{suggest(text, names)}")
    return parse


def _day_of_month(text: str) -> int:
    if re.fullmatch(r"-?\d+", text) and 1 <= abs(int(text)) <= 31:
        return int(text)
    raise ValueError("expected a day of the month, 1 to 31 or -1 (the last day) to -31")


def _year(text: str) -> int:
    if re.fullmatch(r"\d{4}", text):
        return int(text)
    raise ValueError("expected a year like 2027")


def suggest(word: Any, choices: Any) -> str:
    import difflib

    close = difflib.get_close_matches(str(word), sorted(str(c) for c in choices), n=1)
    return f" (did you mean `{close[0]}`?)" if close else ""
