"""Where the engine's alert changes go: metrics, the dispatcher (leader only), the history.

A follower decides the same alerts as the leader (its engine sees the same stream) but must
not send them. It holds them for a while instead: if the leader dies, the new leader
forwards the held alerts that the old one may not have delivered — those decided after the
old leader's last lease renewal — and the outbox, keyed by alert id, turns any overlap into
a no-op. With Elasticsearch, ids the old leader confirmed are skipped too (alert history).
"""
from __future__ import annotations

import logging
import threading
from collections import deque
from datetime import datetime, timedelta
from typing import Callable, Iterable, Optional

from rules.alert import Alert

log = logging.getLogger("kea.alerting")

#: On takeover, held alerts decided up to this long before the old leader's last renewal are
#: forwarded too: replicas' clocks and processing speeds differ a little, and a follower running
#: ahead of the leader must not lose an alert to the comparison (a duplicate is the lesser harm,
#: and the alert history's delivered ids remove it where Elasticsearch is on).
FAILOVER_MARGIN = timedelta(seconds=1)


class AlertRouter:
    def __init__(self, *, submit: Callable[[Alert], object], clock: Callable[[], datetime],
                 hold: timedelta = timedelta(minutes=2), max_held: int = 10_000,
                 on_alert: Callable[[Alert], None] = lambda a: None,
                 delivered_ids: Callable[[datetime], Iterable[str]] = lambda since: (),
                 on_dropped: Callable[[Alert], None] = lambda a: None) -> None:
        """`hold`: how long a follower keeps decided alerts (must exceed the lease duration plus
        the time a takeover takes). `delivered_ids(since)`: ids already confirmed (history)."""
        self.submit, self.clock, self.hold, self.on_alert = submit, clock, hold, on_alert
        self.delivered_ids = delivered_ids
        self.on_dropped = on_dropped
        self._held: deque[tuple[datetime, Alert]] = deque(maxlen=max_held)
        self._leader = False
        self._lock = threading.Lock()

    @property
    def leader(self) -> bool:
        return self._leader

    def __call__(self, alert: Alert) -> None:
        """The pipeline's `on_alert`."""
        self.on_alert(alert)
        with self._lock:
            if not self._leader:
                self._trim()
                if len(self._held) == self._held.maxlen:
                    _, oldest = self._held[0]
                    log.warning("follower hold buffer full (%d): dropping the oldest held alert %s",
                                len(self._held), oldest.id)
                    self.on_dropped(oldest)
                self._held.append((self.clock(), alert))
                return
        self.submit(alert)

    def became_leader(self, previous_renewal: Optional[datetime]) -> int:
        """Forward held alerts decided after `previous_renewal` (the old leader's last sign of
        life; None = forward all held). Returns how many were forwarded."""
        with self._lock:
            self._leader = True
            held, self._held = list(self._held), deque(maxlen=self._held.maxlen)
        since = previous_renewal or (self.clock() - self.hold)
        try:
            done = set(self.delivered_ids(since - timedelta(seconds=30)))
        except Exception:  # history unreachable: the outbox still dedups by id
            log.warning("could not read delivered ids from the alert history; relying on the outbox")
            done = set()
        forwarded = 0
        cutoff = previous_renewal - FAILOVER_MARGIN if previous_renewal is not None else None
        for decided_at, alert in held:
            if (cutoff is None or decided_at >= cutoff) and alert.id not in done:
                self.submit(alert)
                forwarded += 1
        log.info("leadership acquired: forwarded %d of %d held alerts", forwarded, len(held))
        return forwarded

    def lost_leadership(self) -> None:
        with self._lock:
            self._leader = False
        log.warning("leadership lost: holding alerts until leadership returns")

    def _trim(self) -> None:
        cutoff = self.clock() - self.hold
        while self._held and self._held[0][0] < cutoff:
            self._held.popleft()
