"""What the dispatcher reports about each delivery step: metrics and the alert history read it.

An outcome carries the alerts themselves (from the outbox entries), so recording it — the last
step of the notify path, as Alertmanager's SetNotifiesStage — needs nothing from the process
that decided them: an entry left by a previous process is recorded like any other.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Literal

from rules.alert import Alert

OutcomeResult = Literal["sent", "failed", "retried", "dropped", "paused", "skipped", "deferred", "unrouted",
                        "muted", "silenced", "inhibited"]


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    notifier: str
    platform: str
    alert_ids: tuple[str, ...]
    result: OutcomeResult
    """sent: the platform confirmed (removed from the outbox). failed: rejected for good
    (moved to the dead letters). retried: a transient error, tried again. paused: the robot is
    held back (platform rate limit, or retries used up); the alerts stay queued. dropped: the
    outbox was full and these, the oldest, made room. skipped: another replica (the previous
    leader) already delivered these, a route's `repeat_interval` thinned out a reminder, or the
    incident resolved before an escalation step was due; not sent. silenced: a silence matches
    (a firing is held until it ends and reported once; a resolved whose firing was not sent, and
    an escalation step, are settled; code = the silence id). inhibited: an active source alert
    inhibits it (code = the source alert's id); settled, not sent. deferred: the outbox could not be written
    (disk full, EIO): the alert waits in memory and is written again. unrouted: no rule
    `notify` and no route names a notifier. muted: its routes are muted now (time intervals)."""
    code: str
    """Platform code ("0", "93000", "130101"), "http_503", "connection", "timeout",
    "outbox_full", "unknown_notifier", "delivered_elsewhere", "outbox_write_failed", "no_route", "muted",
    "repeat_interval", "resolved", "firing_not_sent", "resolved_while_silenced", a silence id, a source
    alert id."""
    detail: str
    """Human-readable, redacted: never contains a key, token or secret."""
    at: datetime | None = None
    attempt: int = 0
    """For `retried`: the attempt that failed (1 = the first)."""
    alerts: tuple[Alert, ...] = ()
    """The alerts of `alert_ids`, in the same order."""


OutcomeSink = Callable[[DeliveryOutcome], None]
