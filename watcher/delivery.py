"""The notify side of the daemon: notifiers, the durable outbox and the dispatcher, with what
leadership means for them (send only while leading; on takeover, settle what the previous
leader delivered) and the last step of the notify path (metrics, then the alert history).
"""
from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

from notifiers import DeliveryOutcome, Dispatcher, KnownDelivered, Outbox, build_notifier
from notifiers.clock import utcnow
from notifiers.stages import Inhibitor, SilenceProvider
from rules.alert import Alert
from watcher.alerting import DEFAULT_HOLD, MAX_PUBLISHED, inherited_delivered, publish_delivered
from watcher.config import Config, build_routes, notifier_defaults
from watcher.health import Check
from watcher.metrics import Metrics
from watcher.service import remaining

log = logging.getLogger("kea.delivery")


class Delivery:
    name = "delivery"

    def __init__(self, cfg: Config, *, metrics: Metrics, record: Callable[[DeliveryOutcome], None],
                 delivered_ids: Callable[[datetime], set[str]],
                 silences: Optional[SilenceProvider] = None, inhibitor: Optional[Inhibitor] = None) -> None:
        """`record`: the history documents of a settled delivery; `delivered_ids(since)`: what the
        alert history has as sent (outbox entry ids). `silences`: the silence store's snapshot
        provider, `inhibitor`: the inhibit rules' state; the notify stages judge each due entry
        against them (None: nothing is silenced / inhibited)."""
        self.cfg, self.metrics, self._record, self._delivered_ids = cfg, metrics, record, delivered_ids
        defaults = notifier_defaults(cfg)
        notifiers = {name: build_notifier(name, raw, defaults=defaults) for name, raw in cfg.notifiers.items()}
        self.outbox = Outbox(Path(cfg.data_dir) / "outbox", max_entries=cfg.outbox.max_entries)
        # Sends nothing until this replica leads (the router's on_leading → start_sending).
        self.dispatcher = Dispatcher(notifiers, default_route=cfg.routing.default, outbox=self.outbox,
                                     clock=utcnow, on_outcome=self._on_outcome, sending=False,
                                     routes=build_routes(cfg), silences=silences, inhibitor=inhibitor)
        self.hold = DEFAULT_HOLD
        self.inherited_annotations: Callable[[], Optional[Mapping[str, str]]] = lambda: None
        """The previous Lease holder's annotations (set by the sources once the elector exists)."""
        self._inherited: tuple[float, frozenset[str]] = (0.0, frozenset())  # (monotonic takeover, hashes)
        self.last_confirmed: Optional[float] = None
        """Monotonic time of the last confirmed delivery (the watchdog reads it)."""

    # -- the service --------------------------------------------------------------------------

    def start(self) -> None:
        self.dispatcher.start()
        self.metrics.outbox_pending.set(self.dispatcher.pending())  # what the outbox kept from before

    def stop(self, deadline: float) -> None:
        left = self.dispatcher.stop(deadline_seconds=remaining(deadline, at_least=1.0))
        log.info("delivery stopped (%d notifications left in the outbox for the next start)", left)

    def checks(self) -> Mapping[str, Check]:
        return {}

    # -- route ----------------------------------------------------------------------------------

    def submit(self, alert: Alert) -> None:
        """Routing happens once, in the dispatcher (the rule's `notify`, else the routing tree);
        an alert that goes nowhere comes back as an `unrouted` or `muted` outcome."""
        self.dispatcher.submit(alert)
        self.metrics.outbox_pending.set(self.dispatcher.pending())

    # -- record: the last step of the notify path ------------------------------------------------

    def _on_outcome(self, outcome: DeliveryOutcome) -> None:
        """Alertmanager's SetNotifiesStage: metrics, then the alert history from the alerts the
        outcome carries — whichever process queued them. Runs on a delivery thread."""
        self.metrics.record_delivery(outcome.notifier, outcome.platform, outcome.result, outcome.code)
        if outcome.result == "sent":
            self.last_confirmed = time.monotonic()
        self.metrics.outbox_pending.set(self.dispatcher.pending())
        self._record(outcome)

    # -- leadership -----------------------------------------------------------------------------

    def known_delivered(self) -> KnownDelivered:
        """What the previous leader delivered: its Lease annotation, and the alert history over
        the hold window (with a margin: `delivered_at` is the other node's wall clock)."""
        hashes = inherited_delivered(self.inherited_annotations())
        ids: set[str] = set()
        try:
            ids = self._delivered_ids(utcnow() - self.hold - timedelta(minutes=5))
        except Exception as exc:  # ES down: the Lease's ids and the outbox still dedup
            log.warning("could not read delivered ids from the alert history (%s); using the Lease's %d",
                        exc.__class__.__name__, len(hashes))
        log.info("leadership: %d deliveries known from the alert history, %d from the Lease", len(ids), len(hashes))
        self._inherited = (time.monotonic(), hashes)
        return KnownDelivered(frozenset(ids), hashes)

    def start_sending(self) -> None:
        """The router's on_leading: settle what the previous leader delivered, then send."""
        self.dispatcher.start_sending(self.known_delivered())
        self.metrics.outbox_pending.set(self.dispatcher.pending())

    def stop_sending(self) -> None:
        self.dispatcher.stop_sending()

    def lease_annotations(self) -> dict[str, str]:
        """Written on every renewal: the entries delivered within the hold window, and for a hold
        window after a takeover what the previous leader had published."""
        taken_at, inherited = self._inherited
        carried = inherited if time.monotonic() - taken_at < self.hold.total_seconds() else frozenset()
        return publish_delivered(self.dispatcher.recently_confirmed(utcnow() - self.hold, MAX_PUBLISHED), carried)

    def watchdog_view(self) -> dict[str, Any]:
        """What the watchdog reads of the outbox."""
        d = self.dispatcher
        return {"outbox_pending": d.pending, "last_confirmed": lambda: self.last_confirmed,
                "oldest_pending_age": d.oldest_pending_age, "sending_since": d.sending_since}
