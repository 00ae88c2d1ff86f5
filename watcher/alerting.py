"""Where the engine's alert changes go: metrics, the dispatcher (leader only), the history.

A follower decides the same alerts as the leader (its engine sees the same stream) but must
not send them. It holds them instead, for `hold` (by its own monotonic clock) and at most
`max_held`. When it becomes the leader it forwards EVERY held alert: the old leader may have
decided an alert long before it died and never delivered it (queued behind a robot's 20/min,
or a DingTalk 130101 pause of ten minutes) — and another node's `renewTime` is another node's
wall clock, no basis for a cut-off. What the old leader did deliver is skipped further down,
per (alert, notifier): the dispatcher gets the known-delivered pairs from the alert history
(Elasticsearch) and from the Lease, on which every leader publishes the hashes of the entries
it recently delivered (`publish_delivered` on each renewal, `inherited_delivered` on takeover).
The outbox, keyed by (notifier, alert id), turns any remaining overlap into a no-op locally.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from datetime import datetime, timedelta
from typing import Callable, Iterable, Mapping, Optional, Sequence

from notifiers import delivered_hash
from rules.alert import Alert

log = logging.getLogger("kea.alerting")

#: How long a follower holds decided alerts: a DingTalk 130101 pause (10 min) plus the time a
#: queue behind 18–20 messages a minute takes to drain, with room to spare. `max_held` bounds
#: the memory.
DEFAULT_HOLD = timedelta(minutes=30)

#: The leader's Lease annotation listing the entries it recently delivered.
DELIVERED_ANNOTATION = "kube-event-alerter.io/delivered"
#: At most this many ids go on the Lease: 13 bytes each, ~53 KB of the 256 KiB annotation limit.
MAX_PUBLISHED = 4096


def publish_delivered(entry_ids: Sequence[str], inherited: Iterable[str] = ()) -> dict[str, str]:
    """The Lease annotation: hashes of the newest delivered entry ids (oldest first), then as
    many `inherited` hashes (what the previous leader published) as fit in `MAX_PUBLISHED`, so
    that a leader dying soon after a takeover still passes on what its predecessor delivered."""
    ours = [delivered_hash(i) for i in entry_ids[-MAX_PUBLISHED:]]
    room = MAX_PUBLISHED - len(ours)
    seen = set(ours)
    carried = [h for h in inherited if h not in seen][:room] if room > 0 else []
    return {DELIVERED_ANNOTATION: " ".join(carried + ours)}


def inherited_delivered(annotations: Optional[Mapping[str, str]]) -> frozenset[str]:
    """The hashes the previous leader published (anything malformed is ignored)."""
    value = (annotations or {}).get(DELIVERED_ANNOTATION) or ""
    return frozenset(h for h in value.split()[:MAX_PUBLISHED] if len(h) == 12)


class AlertRouter:
    def __init__(self, *, submit: Callable[[Alert], object], hold: timedelta = DEFAULT_HOLD,
                 max_held: int = 10_000, on_alert: Callable[[Alert], None] = lambda a: None,
                 on_leading: Callable[[], None] = lambda: None,
                 on_following: Callable[[], None] = lambda: None,
                 on_dropped: Callable[[Alert], None] = lambda a: None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        """`on_leading()`: runs first on takeover (the dispatcher learns what was delivered and
        starts sending); `on_following()`: on losing the Lease (the dispatcher stops)."""
        self.submit, self.hold, self.on_alert = submit, hold, on_alert
        self.on_leading, self.on_following, self.on_dropped = on_leading, on_following, on_dropped
        self.monotonic = monotonic
        self._held: deque[tuple[float, Alert]] = deque(maxlen=max_held)
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
                self._held.append((self.monotonic(), alert))
                return
        self.submit(alert)

    def became_leader(self, previous_renewal: Optional[datetime] = None) -> int:
        """Forward every held alert (within `hold`); returns how many. `previous_renewal` (the
        old holder's last renewTime, its own wall clock) is only logged."""
        try:
            self.on_leading()
        except Exception:  # the dispatcher must still send; the outbox dedups locally
            log.exception("leadership acquired, but preparing delivery failed")
        with self._lock:
            self._leader = True
            self._trim()
            held = [alert for _, alert in self._held]
            self._held.clear()
        for alert in held:
            self.submit(alert)
        log.info("leadership acquired (previous holder last renewed %s): forwarded %d held alerts; "
                 "those the previous leader delivered are skipped per notifier",
                 previous_renewal.isoformat() if previous_renewal else "never", len(held))
        return len(held)

    def lost_leadership(self) -> None:
        try:
            self.on_following()
        except Exception:
            log.exception("leadership lost, and stopping delivery failed")
        with self._lock:
            self._leader = False
        log.warning("leadership lost: holding alerts until leadership returns")

    def _trim(self) -> None:
        cutoff = self.monotonic() - self.hold.total_seconds()
        while self._held and self._held[0][0] < cutoff:
            _, old = self._held.popleft()
            log.info("held alert %s expired after %s without a takeover", old.id, self.hold)
