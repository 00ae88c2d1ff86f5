"""Routes alerts to notifiers through the durable outbox; one worker thread per notifier.

`submit(alert)` writes one outbox entry per target notifier (the rule's `notify`, else the
routing tree) and returns only when they are on disk; the workers deliver them. An entry may
be held (`not_before`): its group's wait (grouping.py), an escalation step's delay, an
inhibition look-ahead. The workers judge each entry when it is due (stages.py: inhibited →
silenced → send); a resolved alert settles its incident's pending escalation steps (`skipped`)
and goes to the robots a step was sent to (their 【恢复】). An id that
was already confirmed, is pending or was dead-lettered is not written again, so replays,
relists and restarts never send an alert twice. `start()` first resends what the outbox held
from before. `stop(deadline)` lets the workers finish what they can within the deadline; the
rest stays in the outbox for the next start. An outbox that cannot be written (disk full, EIO)
does not lose the alert: it waits in a bounded in-memory queue (counted `deferred`, logged) and
is written on the next submit or by a timer; only when that bound is reached is the oldest
dropped (counted, logged).

Notifiers that post to the same robot URL share one rate limiter, made here and handed to each
of their workers (worker.py owns the pacing): the platform counts per robot.

With several replicas only the Lease holder sends: a dispatcher built with `sending=False`
queues but delivers nothing (not even its outbox from before a restart) until
`start_sending(known)`, which first settles the entries another replica is known to have
delivered (`KnownDelivered`: per notifier and alert) and skips those pairs in later submits;
`stop_sending()` holds everything again.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from datetime import datetime, timedelta
from typing import Iterable, Mapping, Sequence

from rules.alert import Alert

from .clock import Monotonic, Sleep, WallClock, utcnow
from .notifier import Notifier
from .grouping import Write, paged_resolved, plan
from .outbox import KnownDelivered, Outbox, OutboxEntry, PutResult, entry_id, incident_of
from .routes import RouteMatch, Routes, parse_routes
from .outcome import DeliveryOutcome, OutcomeResult, OutcomeSink
from .stages import Guarded, Inhibitor, Judge, SilenceProvider
from .ratelimit import RateLimiter
from .redact import protect_logger, redact
from .worker import Worker

log: logging.Logger = protect_logger("kea.notifiers.dispatcher")


class Dispatcher:
    def __init__(self, notifiers: Mapping[str, Notifier], *, default_route: Sequence[str],
                 outbox: Outbox, clock: WallClock = utcnow,
                 on_outcome: OutcomeSink | None = None,
                 monotonic: Monotonic = time.monotonic, sleep: Sleep | None = None,
                 sending: bool = True, max_unwritten: int = 1000,
                 rewrite_seconds: float = 5.0, routes: Routes | None = None,
                 silences: SilenceProvider | None = None, inhibitor: Inhibitor | None = None) -> None:
        """`monotonic`/`sleep`: injected for tests (a fake clock whose sleep advances it);
        without `sleep`, workers wait on a condition that `stop()` interrupts. `sending=False`:
        a replica that waits for the Lease (see `start_sending`). `max_unwritten`: alerts kept
        in memory while the outbox cannot be written, retried every `rewrite_seconds`. `routes`:
        the routing tree (notifiers/routes.py); without it, every alert goes to `default_route`.
        `silences`: returns the current silences (a snapshot); `inhibitor`: the inhibit rules'
        state (stages.py; either may be None: nothing is silenced / inhibited)."""
        misnamed = [k for k, n in notifiers.items() if k != n.name]
        if misnamed:
            raise ValueError(f"notifiers must be keyed by their own name: {', '.join(misnamed)}")
        unknown = [n for n in default_route if n not in notifiers]
        if unknown:
            raise ValueError(f"default route names unknown notifiers: {', '.join(unknown)}")
        self._notifiers = {name: n.activate() for name, n in notifiers.items()}
        self._default_route = tuple(default_route)
        self._routes = routes if routes is not None else parse_routes(default_route, robots=list(notifiers))
        self._outbox = outbox
        self._clock = clock
        self._on_outcome = on_outcome
        self._monotonic = monotonic
        self._sending = threading.Event()
        self._sending_since: float | None = None
        self._known = KnownDelivered()
        if sending:
            self._sending.set()
            self._sending_since = monotonic()
        limiters = _limiters_per_robot(self._notifiers.values(), monotonic)
        self._inhibitor = Guarded(inhibitor) if inhibitor is not None else None
        judge = self._judge = Judge(outbox=outbox, silences=silences, inhibitor=self._inhibitor)
        self._workers = {name: Worker(n, limiter=limiters[n.robot_key], outbox=outbox,
                                      emit=self._emit, clock=clock, monotonic=monotonic,
                                      sleep=sleep, may_send=self._sending.is_set, judge=judge)
                         for name, n in self._notifiers.items()}
        self._unwritten: deque[Write] = deque()
        self._unwritten_lock = threading.Lock()
        self._max_unwritten = max_unwritten
        self._rewrite_seconds = rewrite_seconds
        self._quit = threading.Event()
        self._rewriter = threading.Thread(target=self._rewrite_loop, daemon=True,
                                          name="kea-outbox-rewrite")
        self._started = False

    def submit(self, alert: Alert) -> list[str]:
        """Durably enqueue `alert` for each target notifier (and its escalation steps);
        returns the new entry ids."""
        self._write_unwritten()
        if self._inhibitor is not None:
            self._inhibitor.observe(alert)
        if alert.status == "resolved":
            self._judge.note_resolved(incident_of(alert))
            self._settle_escalations(alert)
        added: list[str] = []
        now = self._clock()
        targets = self._targets(alert)
        for name, match in targets:
            notifier = self._notifiers.get(name)
            if notifier is None:
                log.error("rule %s routes alert %s to unknown notifier %r: not sent",
                          alert.rule, alert.id, name)
                self._emit(DeliveryOutcome(name, "", (alert.id,), "failed", "unknown_notifier",
                                           f"no notifier named {name!r}", self._clock(),
                                           alerts=(alert,)))
                continue
            if alert.status == "resolved" and not notifier.settings.send_resolved:
                continue
            if entry_id(name, alert) in self._known:
                log.info("alert %s was delivered to %s by the previous leader: not sent again",
                         alert.id, name)
                self._report(name, alert, "skipped", "delivered_elsewhere",
                             "delivered by the previous leader")
                continue
            for w in self._plan(name, alert, match, now):
                if w.step and w.id in self._known:  # the previous leader escalated it already
                    self._report(w.name, alert, "skipped", "delivered_elsewhere", "escalated by the previous leader")
                elif self._write(w):
                    added.append(w.id)
        return added + self._write_paged_resolved(alert, targets)

    def _write_paged_resolved(self, alert: Alert, targets: list[tuple[str, RouteMatch]]) -> list[str]:
        """A resolved's entries for the robots its escalation paged (grouping.paged_resolved)."""
        robots = [n for n, r in self._notifiers.items() if r.settings.send_resolved]
        added = []
        for w in paged_resolved(alert, outbox=self._outbox, robots=robots, routed=[n for n, _ in targets],
                                matches=[m for _, m in targets], known=self._known):
            if w.id in self._known:  # the previous leader told the paged robot already
                self._report(w.name, alert, "skipped", "delivered_elsewhere", "delivered by the previous leader")
            elif self._write(w):
                added.append(w.id)
        return added

    def _plan(self, name: str, alert: Alert, match: RouteMatch, now: datetime) -> list[Write]:
        """The entries to write for one notifier (grouping.py), or none for a reminder the
        route's `repeat_interval` thins out (reported `skipped`)."""
        look_ahead = self._inhibitor.look_ahead(alert) if self._inhibitor is not None else timedelta(0)
        p = plan(name, alert, match, now, outbox=self._outbox, look_ahead=look_ahead, robots=self._notifiers)
        if p.skipped:
            log.info("reminder %s to %s not sent: %s", alert.id, name, p.skipped)
            self._report(name, alert, "skipped", "repeat_interval", p.skipped)
        if p.extend and p.writes[0].not_before is not None:
            try:
                for entry in self._outbox.rehold(p.extend, p.writes[0].not_before):
                    self._workers[name].replace(entry)
            except OSError as e:  # they keep their own hold: the group may go out as two messages
                log.warning("could not extend the hold of %d entries (%s)", len(p.extend), redact(e))
        return p.writes

    def _settle_escalations(self, resolved: Alert) -> None:
        """A resolved incident escalates no further: its pending steps are settled `skipped`."""
        steps = [e for e in self._outbox.of_incident(incident_of(resolved)) if e.step]
        for entry in steps:
            try:
                self._outbox.settle([entry.id], "skipped")
            except OSError as e:  # stays pending; judged (and skipped) again at its due time
                log.error("could not settle escalation %s (%s)", entry.id, redact(e))
                continue
            if entry.notifier in self._workers:
                self._workers[entry.notifier].discard(entry.id)
            log.info("incident of %s resolved: escalation step %d to %s not sent", resolved.id,
                     entry.step, entry.notifier)
            self._report(entry.notifier, entry.alert, "skipped", "resolved",
                         f"resolved before escalation step {entry.step} was due")

    def _targets(self, alert: Alert) -> list[tuple[str, RouteMatch]]:
        """Route, once: the rule's own `notify` wins where set, else the routing tree. An alert
        that goes nowhere (no route, or its routes muted now) is reported, never dropped
        silently. Each robot with the first match that names it (its group and timing)."""
        matches = self._routes.targets(alert, self._clock())
        robots: dict[str, RouteMatch] = {}
        for m in matches:
            for r in m.robots if m.sends else ():
                robots.setdefault(r, m)
        if not robots:
            muted = [m.muted_by for m in matches if not m.sends]
            result: OutcomeResult = "muted" if muted else "unrouted"
            why = "; ".join(muted) if muted else "no route and no `notify` name a notifier"
            log.log(logging.INFO if muted else logging.WARNING, "alert %s (%s) %s: %s; not sent",
                    alert.id, alert.status, result, why)
            self._emit(DeliveryOutcome("", "", (alert.id,), result, "no_route" if not muted else "muted",
                                       why, self._clock(), alerts=(alert,)))
        return list(robots.items())

    def _write(self, w: Write) -> bool:
        """Put one entry in the outbox and queue it; False when nothing new was written. An
        outbox that cannot be written (disk full, EIO) must not lose the alert: it waits in
        memory (bounded) and is written again on the next submit and by a timer."""
        try:
            result = self._outbox.put(w.name, w.alert, not_before=w.not_before, group=w.group, step=w.step)
        except OSError as e:
            self._hold_unwritten(w, e)
            return False
        return self._queue(w.name, result)

    def _queue(self, name: str, result: PutResult) -> bool:
        """Hand a written entry to its worker; report what the outbox dropped to make room."""
        for old in result.dropped:
            worker = self._workers.get(old.notifier)
            if worker:
                worker.discard(old.id)
            log.warning("outbox full: dropped the oldest entry %s (never delivered)", old.id)
            self._report(old.notifier, old.alert, "dropped", "outbox_full",
                         "dropped oldest-first: outbox full")
        if result.entry is None:
            return False
        self._workers[name].enqueue(result.entry)
        return True

    def _hold_unwritten(self, w: Write, error: OSError) -> None:
        name, alert = w.name, w.alert
        with self._unwritten_lock:
            if any(u.id == w.id for u in self._unwritten):
                return
            if len(self._unwritten) >= self._max_unwritten:
                old = self._unwritten.popleft()
                log.error("outbox unwritable and %d alerts waiting in memory: dropped the oldest, "
                          "%s for %s", self._max_unwritten, old.alert.id, old.name)
                self._report(old.name, old.alert, "dropped", "outbox_write_failed",
                             "dropped oldest-first: the outbox could not be written")
            self._unwritten.append(w)
            waiting = len(self._unwritten)
        log.error("outbox write failed for alert %s to %s (%s): kept in memory (%d waiting), "
                  "written again on the next submit and every %.0f s", alert.id, name, redact(error),
                  waiting, self._rewrite_seconds)
        self._report(name, alert, "deferred", "outbox_write_failed", redact(error))

    def _write_unwritten(self) -> None:
        """Write the alerts the outbox refused before, oldest first, until it refuses again."""
        with self._unwritten_lock:
            written = 0
            while self._unwritten:
                w = self._unwritten[0]
                try:
                    result = self._outbox.put(w.name, w.alert, not_before=w.not_before, group=w.group,
                                              step=w.step)
                except OSError:
                    return
                self._unwritten.popleft()
                written += 1
                self._queue(w.name, result)
            if written:
                log.warning("outbox writable again: %d alert(s) kept in memory are now queued", written)

    def _rewrite_loop(self) -> None:
        while not self._quit.wait(self._rewrite_seconds):
            try:
                self._write_unwritten()
            except Exception:  # a bug must not end the retries
                log.exception("writing held alerts to the outbox failed")

    def _report(self, name: str, alert: Alert, result: OutcomeResult, code: str, detail: str) -> None:
        platform = self._notifiers[name].platform if name in self._notifiers else ""
        self._emit(DeliveryOutcome(name, platform, (alert.id,), result, code, detail, self._clock(),
                                   alerts=(alert,)))

    def start(self) -> None:
        """Queue what the outbox holds from before, then start the workers (once)."""
        if self._started:
            return
        self._started = True
        orphans: dict[str, int] = {}
        for entry in self._outbox.entries():
            worker = self._workers.get(entry.notifier)
            if worker is None:
                orphans[entry.notifier] = orphans.get(entry.notifier, 0) + 1
                continue
            worker.enqueue(entry)
        for name, count in orphans.items():
            log.warning("outbox holds %d entries for notifier %r, which is not configured: "
                        "kept, not sent", count, name)
        for worker in self._workers.values():
            worker.start()
        self._rewriter.start()

    def limiter(self, name: str) -> RateLimiter:
        """The pacing of notifier `name`'s robot (one per robot URL, shared)."""
        return self._workers[name].limiter

    @property
    def sending(self) -> bool:
        return self._sending.is_set()

    def start_sending(self, known: KnownDelivered | None = None) -> int:
        """This replica now holds the Lease: settle the outbox entries `known` as delivered by
        another replica (they are confirmed, not sent), skip those pairs in later submits, and
        let the workers deliver. Returns how many entries were settled that way."""
        self._known = known if known is not None else KnownDelivered()
        done = [e for e in self._outbox.entries() if e.id in self._known]
        if done:
            try:
                self._outbox.confirm([e.id for e in done])
            except OSError as e:  # not sent now all the same; they stay on disk for a restart
                log.error("could not record %d entries the previous leader delivered (%s)",
                          len(done), redact(e))
            log.info("%d outbox entries were delivered by the previous leader: not sent again",
                     len(done))
            self._report_skipped(done)
        self._sending_since = self._monotonic()
        self._sending.set()
        for worker in self._workers.values():
            worker.wake()
        return len(done)

    def stop_sending(self) -> None:
        """Another replica may hold the Lease: deliver nothing more (a request in flight ends)."""
        self._sending.clear()
        self._sending_since = None
        for worker in self._workers.values():
            worker.wake()

    def recently_confirmed(self, since: datetime, limit: int) -> list[str]:
        """Entry ids confirmed at or after `since` (at most `limit`, newest kept): what a leader
        publishes so that its successor does not send them again."""
        return self._outbox.recently_confirmed(since, limit)

    def stop(self, deadline_seconds: float = 10.0) -> int:
        """Deliver what can be delivered within the deadline; returns entries left pending."""
        deadline = self._monotonic() + deadline_seconds
        self._quit.set()
        self._write_unwritten()
        self._drop_unwritten()
        for worker in self._workers.values():
            worker.request_stop(deadline)
        # Joining needs real time; an HTTP request in flight may hold a worker up to its
        # timeout, so allow one second beyond the deadline before giving up on it.
        real_end = time.monotonic() + deadline_seconds + 1.0
        for name, worker in self._workers.items():
            if not worker.join(max(0.0, real_end - time.monotonic())):
                log.warning("notifier %s did not stop within the deadline", name)
        left = len(self._outbox)
        if left:
            log.info("stopped with %d notification(s) pending in the outbox", left)
        return left

    def pending(self) -> int:
        """Notifications not yet confirmed (nor dead-lettered): the outbox's entries and the
        alerts waiting in memory for an outbox write."""
        with self._unwritten_lock:
            return len(self._outbox) + len(self._unwritten)

    def oldest_pending_age(self) -> float | None:
        """Seconds the oldest due entry has waited since it became due: 0 when every pending
        entry is held (by its group's wait, an escalation's delay, a silence: none is late);
        None: nothing pending."""
        now = self._clock()
        due = [d for w in self._workers.values() if (d := w.oldest_due(now)) is not None]
        if due:
            return max(0.0, (now - min(due)).total_seconds())
        return 0.0 if len(self._outbox) else None

    def sending_since(self) -> float | None:
        """Monotonic time this dispatcher began sending (None: it does not send)."""
        return self._sending_since

    def _drop_unwritten(self) -> None:
        with self._unwritten_lock:
            lost, self._unwritten = list(self._unwritten), deque()
        for name, alert, *_ in lost:
            log.error("stopping: alert %s for %s could not be written to the outbox: lost", alert.id, name)
            self._report(name, alert, "dropped", "outbox_write_failed", "lost at shutdown: outbox unwritable")

    def _report_skipped(self, entries: Iterable[OutboxEntry]) -> None:
        by_notifier: dict[str, list[OutboxEntry]] = {}
        for e in entries:
            worker = self._workers.get(e.notifier)
            if worker is not None:
                worker.discard(e.id)
            by_notifier.setdefault(e.notifier, []).append(e)
        for name, group in by_notifier.items():
            platform = self._notifiers[name].platform if name in self._notifiers else ""
            self._emit(DeliveryOutcome(name, platform, tuple(e.alert.id for e in group), "skipped",
                                       "delivered_elsewhere", "delivered by the previous leader",
                                       self._clock(), alerts=tuple(e.alert for e in group)))

    def _emit(self, outcome: DeliveryOutcome) -> None:
        if self._on_outcome is None:
            return
        try:
            self._on_outcome(outcome)
        except Exception as e:  # metrics/history trouble must not stop deliveries
            log.error("on_outcome callback failed: %s", redact(e))


def _limiters_per_robot(notifiers: Iterable[Notifier], monotonic: Monotonic) -> dict[str, RateLimiter]:
    """One limiter per robot URL: the platform counts per robot, however many notifiers post
    there (the first notifier's rate and windows set it)."""
    limiters: dict[str, RateLimiter] = {}
    for n in notifiers:
        if n.robot_key not in limiters:
            limiters[n.robot_key] = n.new_limiter(monotonic)
    return limiters
