"""Retention: delete daily indices older than N days.

The node this runs against may have no ILM (OSS builds, core-only nodes), and
`_delete_by_query` over one big index is slow and leaves deleted documents behind; dropping whole
daily indices is instant and needs only the core index API. The date comes from the index name
(the documents' own day), so a late write into an old index cannot keep it alive. The alerts
index is not daily and never deleted here: restoring open incidents needs its history.

The writer (watcher/es/documents.py) uses the same window: it does not write a document dated
before the oldest kept day (a start-up LIST would otherwise re-create the indices deleted here
from old `finishedAt`s), and it puts one dated more than `FUTURE_SKEW` ahead into today's index.
A daily index further ahead than retention keeps the past can only come from an earlier
version writing a bad object's time; it is retired too, or it would outlive everything.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Optional

from watcher.es.templates import daily_index_pattern, parse_day

log = logging.getLogger("kea.es")

_BATCH = 50  # index names per DELETE request: keeps the URL short
#: How far ahead of our clock a document may be dated and still go to its own day's index
#: (clock skew between nodes); beyond it, it goes to today's.
FUTURE_SKEW = timedelta(days=1)


def utc_day(when: datetime) -> datetime:
    when = when.astimezone(timezone.utc) if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)
    return when.replace(hour=0, minute=0, second=0, microsecond=0)


def oldest_kept_day(now: datetime, retention_days: int) -> Optional[datetime]:
    """Midnight UTC of the oldest day retention keeps; None when it keeps everything (0)."""
    if retention_days <= 0:
        return None
    return utc_day(now) - timedelta(days=retention_days)


def expired_indices(names: list[str], prefix: str, retention_days: int, now: datetime) -> list[str]:
    """Our daily indices (this prefix only) whose day is before `now`'s UTC day minus
    `retention_days`, or more than `retention_days` after it. With 30 on 2024-06-30,
    2024-05-31 is kept and 2024-05-30 goes."""
    cutoff = oldest_kept_day(now, retention_days)
    if cutoff is None:
        return []  # 0 means "keep forever", never "delete today's index"
    too_far_ahead = utc_day(now) + timedelta(days=retention_days)
    pattern = daily_index_pattern(prefix)
    out = []
    for name in names:
        m = pattern.match(name)
        if m is None:
            continue
        try:
            day = parse_day(m.group("day"))
        except ValueError:  # 2024.13.45: not a date, not ours to judge
            continue
        if day < cutoff or day > too_far_ahead:
            out.append(name)
    return sorted(out)


def delete_old_indices(client: Any, prefix: str, retention_days: int, now: datetime) -> list[str]:
    """Delete the expired daily indices; returns their names."""
    listed = client.options(ignore_status=404).cat.indices(
        index=f"{prefix}-*", h="index", format="json", expand_wildcards="open,closed")
    names = [row["index"] for row in (listed.body if hasattr(listed, "body") else listed) or []]
    doomed = expired_indices(names, prefix, retention_days, now)
    for i in range(0, len(doomed), _BATCH):
        # explicit names, no wildcards: works with action.destructive_requires_name=true
        client.options(ignore_status=404).indices.delete(index=",".join(doomed[i:i + _BATCH]))
    if doomed:
        log.info("retention: deleted %d indices older than %d days: %s", len(doomed), retention_days,
                 ", ".join(doomed[:10]) + (" ..." if len(doomed) > 10 else ""))
    return doomed


def add_retention_job(scheduler: Any, *, client: Any, prefix: str, retention_days: int,
                      clock: Callable[[], datetime], cron: str = "", interval: timedelta = timedelta(0),
                      timezone_name: str = "UTC", job_id: str = "es-retention") -> Any:
    """Register the retention job on an APScheduler 3.x scheduler: a crontab expression
    (`30 3 * * *`, in `timezone_name`) or an interval. Failures are logged and retried at the
    next run; a missed run (daemon down) runs once when it can (coalesce)."""
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    if cron:
        trigger = CronTrigger.from_crontab(cron, timezone=timezone_name)
    elif interval > timedelta(0):
        trigger = IntervalTrigger(seconds=interval.total_seconds(), timezone=timezone_name)
    else:
        raise ValueError("retention job needs a cron expression or an interval")

    def run() -> None:
        try:
            delete_old_indices(client, prefix, retention_days, clock())
        except Exception as exc:
            log.warning("retention job failed (%s: %s); next run will retry", type(exc).__name__, exc)

    return scheduler.add_job(run, trigger, id=job_id, name="elasticsearch retention", replace_existing=True,
                             coalesce=True, max_instances=1, misfire_grace_time=3600)
