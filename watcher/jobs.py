"""Background jobs on one APScheduler BackgroundScheduler: index retention, the daily digest
and the watchdog. Each job can be switched off or re-timed in `scheduler:`; cron expressions
run in the configured time zone. (The rules' `for` / resolve timers do not need a job: the
pipeline thread ticks the engine every second.)

The watchdog is the daemon alerting about itself: a watcher that has been silent for longer
than `watchdog_silence` while the API answers, or an outbox whose notifications have been
stuck for as long, raises a `kea-watchdog` alert (and resolves it when it clears). "Stuck" is
measured from the latest of: the oldest pending entry's queueing, this process's start, the
start of its leadership (a follower sends nothing by design) and the last confirmation —
never from "never", or a fresh daemon would alert about itself a minute after start.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable, Mapping, Optional

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from rules.alert import Alert, AlertStatus
from watcher.config import Job, Scheduler

log = logging.getLogger("kea.jobs")


def build_scheduler(cfg: Scheduler, timezone: str, jobs: Mapping[str, Callable[[], None]]) -> BackgroundScheduler:
    """`jobs`: name (retention, digest, watchdog) -> function; names without a function, or
    switched off in the config, are not scheduled."""
    sched = BackgroundScheduler(timezone=timezone, job_defaults={"coalesce": True, "max_instances": 1,
                                                                  "misfire_grace_time": 300})
    for name, fn in jobs.items():
        job: Job = getattr(cfg, name)
        if not job.enabled:
            log.info("job %s is switched off", name)
            continue
        trigger = (IntervalTrigger(seconds=job.interval.total_seconds(), timezone=timezone) if job.interval
                   else CronTrigger.from_crontab(job.cron, timezone=timezone))
        sched.add_job(_guarded(name, fn), trigger, id=name, name=name)
    return sched


def _guarded(name: str, fn: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        start = time.monotonic()
        try:
            fn()
        except Exception:
            log.exception("job %s failed", name)
        else:
            log.info("job %s done in %.1fs", name, time.monotonic() - start)

    return run


@dataclass
class Watchdog:
    """Decides self-alerts from heartbeats; `check(now)` returns the alert changes."""

    cluster: str
    silence: timedelta
    watchers: Mapping[str, Callable[[], Optional[float]]]
    """resource -> monotonic time of its last event (None: nothing yet)."""
    api_reachable: Callable[[], bool]
    outbox_pending: Callable[[], int]
    last_confirmed: Callable[[], Optional[float]]
    """Monotonic time of the last confirmed delivery (None: none yet)."""
    monotonic: Callable[[], float] = time.monotonic
    oldest_pending_age: Callable[[], Optional[float]] = lambda: None
    """Seconds since the oldest pending entry was queued (None: unknown)."""
    sending_since: Callable[[], Optional[float]] = lambda: float("-inf")
    """Monotonic time this replica began sending (None: a follower, not sending)."""
    _open: dict[str, Alert] = field(default_factory=dict)
    _started: float = field(init=False)

    def __post_init__(self) -> None:
        self._started = self.monotonic()

    def check(self, now: datetime) -> list[Alert]:
        problems: dict[str, str] = {}
        mono, limit = self.monotonic(), self.silence.total_seconds()
        if self.api_reachable():
            for resource, last in self.watchers.items():
                seen = last()
                if seen is not None and mono - seen > limit:
                    problems[f"watch/{resource}"] = f"watcher {resource} saw no event for {int(mono - seen)}s while the API answers"
        stuck = self._outbox_stuck(mono, limit)
        if stuck:
            problems["outbox"] = stuck
        out = []
        for key, detail in problems.items():
            if key not in self._open:
                self._open[key] = self._alert(key, "firing", detail, now, now)
                out.append(self._open[key])
        for key in list(self._open):
            if key not in problems:
                opened = self._open.pop(key)
                out.append(self._alert(key, "resolved", f"recovered: {opened.summary}", opened.started_at, now))
        return out

    def _outbox_stuck(self, mono: float, limit: float) -> str:
        pending, sending_since = self.outbox_pending(), self.sending_since()
        if not pending or sending_since is None:
            return ""
        since = max(self._started, sending_since, self.last_confirmed() or float("-inf"))
        oldest = self.oldest_pending_age()
        waited = mono - since if oldest is None else min(oldest, mono - since)
        if waited <= limit:
            return ""
        queued = f", the oldest queued {int(oldest)}s ago" if oldest is not None else ""
        return f"outbox holds {pending} notifications{queued}, and none confirmed for over {int(limit)}s"

    def _alert(self, key: str, status: AlertStatus, summary: str, started: datetime, at: datetime) -> Alert:
        return Alert(rule="kea-watchdog", key=key, status=status, severity="critical", sequence=1, started_at=started,
                     at=at, count=1, cluster=self.cluster, namespace="", kind="Daemon", name="kube-event-alerter",
                     workload_kind="", workload_name="kube-event-alerter", summary=summary,
                     description="kube-event-alerter 自身异常 / the alerter itself is unhealthy",
                     incident=started.strftime("%Y%m%dT%H%M%S"))
