"""Durations as rule authors write them: `30s`, `5m`, `1h30m`, `2d`, or seconds as a number."""
from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
#: Anything longer is a typo, not a window (and timedelta overflows near 2.7 million years).
MAX_SECONDS = 366 * 86400 * 10
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse(value: object) -> timedelta:
    """Raise ValueError with a readable message on anything else."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 30s, 5m, 1h, got {value!r}")
    if isinstance(value, (int, float)):
        return _bounded(float(value), value)
    if not isinstance(value, str):
        raise ValueError(f"expected a duration like 30s, 5m, 1h, got {value!r}")
    text = value.strip()
    pos, seconds = 0, 0.0
    for m in _PART.finditer(text):
        if m.start() != pos:
            break
        seconds += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not text or pos != len(text):
        raise ValueError(f"expected a duration like 30s, 5m, 1h30m, got {value!r}")
    return _bounded(seconds, value)


def _bounded(seconds: float, value: object) -> timedelta:
    if seconds != seconds or seconds < 0 or seconds > MAX_SECONDS:
        raise ValueError(f"duration must be between 0s and 10 years, got {value!r}")
    return timedelta(seconds=seconds)
