"""The pace step, and the loop that runs the steps for one notifier: wait for the robot →
take what queued → compose (compose.py) → send (platform.py) → settle (settle.py) → record.

The worker owns its robot's pacing: the `RateLimiter` (ratelimit.py) the dispatcher made for
the robot's URL, shared by every notifier posting there. Every HTTP attempt, retries included,
takes a token from it first; when alerts queued up faster than it lets them go, they go out
merged into one digest. A pause (platform rate limit, retries used up) holds the robot back.

Each attempt's result is settled by `settle()`, a pure decision; this file only applies it:
retry with tenacity's exponential backoff with jitter (bounded by `retry_attempts`), confirm
or dead-letter the outbox entries, or pause the limiter. Recording is the last step: a
`DeliveryOutcome` (outcome.py) per step goes to the dispatcher's sink (metrics, history).
Errors are logged when they change, not on every attempt (as Alertmanager's retry stage).

Held entries (`not_before`: a group's wait, an escalation's delay) are not due yet: the loop
sleeps until the next one is (a new entry or `stop()` interrupts the wait). Due entries pass
the stages first (stages.py: inhibited → silenced → send); this file applies the verdict:
settle without a send (an outcome, once), hold (a silenced firing, reported once), or send.
What is sent at once is one group's due entries (entries of other groups never share a
digest): a group that was held goes out as one message; one that never waited goes out an
alert at a time while the limiter has room for each, merged when alerts queued up.

Only while `may_send()` (this replica holds the Lease) does the loop take work or start an
HTTP attempt; otherwise the entries wait, queued and on disk. A request already in flight
when leadership goes is finished and settled.

Time: the monotonic clock and sleep come from the caller. Without an injected sleep the loop
waits on its condition variable, so `stop()` interrupts a pause at once.
"""
from __future__ import annotations

import itertools
import logging
import random
import threading
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Callable

from tenacity import RetryCallState, Retrying, retry_if_result
from tenacity.wait import wait_exponential_jitter

from .clock import Monotonic, Sleep, WallClock
from .compose import Message
from .notifier import Notifier
from .outbox import Outbox, OutboxEntry
from .outcome import DeliveryOutcome, OutcomeResult
from .platform import DeliveryResult
from .ratelimit import RateLimiter
from .settle import BACKOFF_FIRST, Decision, settle
from .stages import Judge, Verdict

_MAX_IDLE = 30.0
"""Seconds a wait for a held entry lasts at most before looking again (the wall clock may jump)."""

Attempted = tuple[DeliveryResult, Decision]


class Aborted(Exception):
    """Stop was requested and the next step would end after its deadline."""


class Withheld(Exception):
    """This replica stopped sending (lost the Lease) before the next attempt."""


class Worker:
    def __init__(self, notifier: Notifier, *, limiter: RateLimiter, outbox: Outbox,
                 emit: Callable[[DeliveryOutcome], None], clock: WallClock,
                 monotonic: Monotonic, sleep: Sleep | None,
                 may_send: Callable[[], bool] = lambda: True, judge: Judge | None = None) -> None:
        """`limiter`: the pacing of the notifier's robot (shared with every worker posting to
        the same robot URL)."""
        self.notifier = notifier
        self.limiter = limiter
        self._may_send = may_send
        self._outbox = outbox
        self._emit = emit
        self._clock = clock
        self._monotonic = monotonic
        self._sleep_fn = sleep
        self._log: logging.Logger = notifier.log
        self._queue: dict[str, OutboxEntry] = {}
        self._judge = judge or Judge(outbox=outbox)
        self._holds: dict[str, datetime] = {}
        """Entry id → when to judge it again (a silenced firing)."""
        self._reported: dict[str, str] = {}
        """Entry id → the silence its hold was reported for (reported once per silence)."""
        self._cond = threading.Condition()
        self._stopping = False
        self._deadline: float | None = None
        self._thread: threading.Thread | None = None
        self._failures = 0
        self._last_error = ""

    # -- control (called from other threads) ---------------------------------------------------
    def enqueue(self, entry: OutboxEntry) -> None:
        with self._cond:
            if entry.id not in self._queue:
                self._queue[entry.id] = entry
            self._cond.notify_all()

    def replace(self, entry: OutboxEntry) -> None:
        """A queued entry changed (its hold was extended)."""
        with self._cond:
            if entry.id in self._queue:
                self._queue[entry.id] = entry
            self._cond.notify_all()

    def discard(self, entry_id: str) -> None:
        with self._cond:
            self._forget(entry_id)

    def wake(self) -> None:
        """`may_send()` may have changed: look again."""
        with self._cond:
            self._cond.notify_all()

    def queued(self) -> int:
        with self._cond:
            return len(self._queue)

    def oldest_due(self, now: datetime) -> datetime | None:
        """Since when the longest-waiting due entry has been due (None: none is due)."""
        with self._cond:
            since = [self._due_at(e) for e in self._queue.values() if self._due_at(e) <= now]
        return min(since) if since else None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self.run, daemon=True,
                                            name=f"kea-notify-{self.notifier.name}")
            self._thread.start()

    def request_stop(self, deadline: float) -> None:
        """Finish what can be finished before `deadline` (on the injected monotonic clock)."""
        with self._cond:
            self._stopping = True
            self._deadline = deadline
            self._cond.notify_all()

    def join(self, timeout: float) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    # -- the loop ------------------------------------------------------------------------------
    def run(self) -> None:
        while self._wait_for_work():
            try:
                self.step()
            except Aborted:
                return
            except Withheld:
                continue
            except Exception:  # a bug must not silently end deliveries for this robot
                self._log.exception("%s: unexpected error in the delivery loop; pausing 30 s",
                                    self.notifier.name)
                self.limiter.pause(BACKOFF_FIRST, reason="internal error")

    def step(self) -> None:
        """Send one message (single alert or digest) and settle its entries."""
        self._sleep_until_ready()
        sendable = self._judged(self._due(self._clock()))
        if not sendable:
            return
        group = sendable[0][0].group
        entries = [(e, f) for e, f in sendable if e.group == group]
        if all(e.not_before is None for e, _ in entries) and self.limiter.available() >= len(entries):
            # Room for each alert on its own, and nothing waited to be grouped: no need to merge.
            entries = entries[:1]
        built = self.notifier.build([replace(e.alert, fields={**e.alert.fields, **f}) if f else e.alert
                                     for e, f in entries])
        batch = [e for e, _ in entries[: built.count]]
        result, decision = self._send(built.message, batch)
        self._settle(batch, result, decision)

    def _wait_for_work(self) -> bool:
        """Until an entry is due and this replica sends (True), or stop was asked and nothing
        is due now (False: held entries stay in the outbox for the next start)."""
        while True:
            with self._cond:
                now = self._clock()
                due = any(self._due_at(e) <= now for e in self._queue.values())
                if due and self._may_send():
                    return True
                if self._stopping and (not due or not self._may_send()):
                    return False
                if not (self._queue and self._may_send()):
                    self._cond.wait(1.0)
                    continue
                wait = self._idle_seconds(now)
                if self._sleep_fn is None:
                    self._cond.wait(wait)  # enqueue() and request_stop() notify
                    continue
            self._sleep_fn(wait)  # an injected (test) clock: time passes as the worker waits

    def _idle_seconds(self, now: datetime) -> float:
        """How long until the next held entry is due (called with the lock held)."""
        if not self._queue:
            return _MAX_IDLE
        nearest = min(self._due_at(e) for e in self._queue.values())
        return min(_MAX_IDLE, max(0.001, (nearest - now).total_seconds()))

    def _due_at(self, entry: OutboxEntry) -> datetime:
        """When the entry is due: its own hold, or a stage's (a silence), whichever is later."""
        due = entry.not_before or entry.enqueued_at
        hold = self._holds.get(entry.id)
        return max(due, hold) if hold is not None else due

    def _due(self, now: datetime) -> list[OutboxEntry]:
        with self._cond:
            due = [e for e in self._queue.values() if self._due_at(e) <= now]
        return sorted(due, key=lambda e: e.seq)

    # -- the stages ----------------------------------------------------------------------------
    def _judged(self, due: list[OutboxEntry]) -> list[tuple[OutboxEntry, dict[str, Any]]]:
        """Apply the stages' verdicts (stages.py); the entries to send, with their fields."""
        sendable: list[tuple[OutboxEntry, dict[str, Any]]] = []
        now = self._clock()
        settled: set[str] = set()
        for entry, verdict in zip(due, self._judge.verdicts(due, now)):
            if entry.id in settled:
                continue
            if verdict.also:
                self._settle_unsent([i for i in verdict.also if i != entry.id], "silenced",
                                    "resolved_while_silenced", "its incident resolved while silenced")
                settled.update(verdict.also)
            if verdict.action == "send":
                sendable.append((entry, dict(verdict.fields)))
            elif verdict.action == "hold":
                self._hold(entry, verdict, now)
            else:
                self._settle_verdict(entry, verdict)
                settled.add(entry.id)
        return [(e, f) for e, f in sendable if e.id not in settled]

    def _hold(self, entry: OutboxEntry, verdict: Verdict, now: datetime) -> None:
        with self._cond:
            self._holds[entry.id] = verdict.until or now + timedelta(seconds=_MAX_IDLE)
            first = verdict.code not in (self._reported.get(entry.id), entry.reported)
            self._reported[entry.id] = verdict.code
        if first and verdict.result is not None:
            self._log.info("%s: alert %s held: %s", self.notifier.name, entry.alert.id, verdict.detail)
            self._outcome([entry], verdict.result, verdict.code, verdict.detail)
            try:  # reported once, a restart too (a crash before this: reported again)
                self._outbox.mark_reported(entry.id, verdict.code)
            except OSError as e:
                self._log.warning("%s: could not note the report of %s (%s)", self.notifier.name, entry.id, e)

    def _settle_verdict(self, entry: OutboxEntry, verdict: Verdict) -> None:
        assert verdict.result is not None
        if verdict.source is not None and self._judge.inhibitor is not None:
            self._judge.inhibitor.note(verdict.source, entry.alert)
        self._settle_unsent([entry.id], verdict.result, verdict.code, verdict.detail)

    def _settle_unsent(self, ids: list[str], result: OutcomeResult, code: str, detail: str) -> None:
        """Settle entries without a send: recorded (outcome, log line), then the outbox forgets them."""
        with self._cond:
            batch = [self._queue[i] for i in ids if i in self._queue]
            told = {e.id for e in batch if result == "silenced" and (self._reported.get(e.id) or e.reported)}
        if not batch:
            return
        untold = [e for e in batch if e.id not in told]  # a held firing was reported `silenced` once
        if untold:
            self._outcome(untold, result, code, detail)
        self._outbox.settle([e.id for e in batch], result, code)
        self._dequeue([e.id for e in batch])
        for e in batch:
            self._log.info("%s: alert %s not sent: %s (%s)", self.notifier.name, e.alert.id, result, detail)

    def _sleep_until_ready(self) -> None:
        while (wait := self.limiter.delay()) > 0:
            self._sleep(wait)

    def _sleep(self, seconds: float) -> None:
        end = self._monotonic() + seconds
        while True:
            with self._cond:
                if self._deadline is not None and end > self._deadline:
                    raise Aborted()
                remaining = end - self._monotonic()
                if remaining <= 1e-6:
                    return
                if self._sleep_fn is None:
                    self._cond.wait(remaining)
                    continue
            self._sleep_fn(remaining)

    # -- sending -------------------------------------------------------------------------------
    def _send(self, message: Message, batch: list[OutboxEntry]) -> Attempted:
        """Attempt until `settle` decides anything but `retry`; the last result and decision."""
        attempts = itertools.count(1)

        def attempt() -> Attempted:
            result = self._attempt(message)
            return result, settle(result, attempt=next(attempts), failures=self._failures,
                                  settings=self.notifier.settings,
                                  jitter=random.uniform(1.0, 1.1))

        retrying = Retrying(
            wait=wait_exponential_jitter(initial=1.0, max=self.notifier.settings.retry_max_seconds,
                                         jitter=1.0),
            retry=retry_if_result(lambda attempted: attempted[1].action == "retry"),
            before_sleep=lambda state: self._on_retry(batch, state),
            sleep=self._sleep,
        )
        return retrying(attempt)

    def _attempt(self, message: Message) -> DeliveryResult:
        while (wait := self.limiter.try_acquire()) > 0:
            self._sleep(wait)
        with self._cond:
            if self._deadline is not None and self._monotonic() > self._deadline:
                raise Aborted()
        if not self._may_send():
            raise Withheld()
        return self.notifier.deliver(message)

    def _on_retry(self, batch: list[OutboxEntry], state: RetryCallState) -> None:
        assert state.outcome is not None  # tenacity calls before_sleep after an attempt
        result: DeliveryResult = state.outcome.result()[0]
        self._note_error(result, f"attempt {state.attempt_number} failed, retrying")
        self._outcome(batch, "retried", result.code, str(result), attempt=state.attempt_number)

    # -- settling ------------------------------------------------------------------------------
    def _settle(self, batch: list[OutboxEntry], result: DeliveryResult, decision: Decision) -> None:
        """Record `decision`, then apply it to the outbox and the limiter, and log it. Recorded
        first: once the outbox forgets a delivered entry, the record (the alert history) is the
        only trace of it, so a crash in between must cost a resend, not the record."""
        ids = [e.id for e in batch]
        self._failures = decision.failures
        self._outcome(batch, decision.outcome, result.code, _detail(len(ids), result, decision))
        if decision.action == "confirm":
            self._outbox.confirm(ids)
        elif decision.action == "dead_letter":
            self._outbox.fail(ids, code=result.code, detail=str(result))
        elif decision.action == "pause":
            self.limiter.pause(decision.pause_seconds, reason=result.code)
        if decision.action in ("confirm", "dead_letter"):
            self._dequeue(ids)
        self._log_settled(len(ids), result, decision)

    def _log_settled(self, count: int, result: DeliveryResult, decision: Decision) -> None:
        n = self.notifier.name
        if decision.action == "confirm":
            if self._last_error:
                self._log.info("%s: delivering again after: %s", n, self._last_error)
            self._last_error = ""
            self._log.info("%s: sent %d alert(s) (%s)", n, count, result.code)
        elif decision.action == "dead_letter":
            self._log.error("%s: platform rejected %d alert(s), not retried: %s "
                            "(kept in the outbox's failed/ directory)", n, count, result)
        elif decision.throttled:
            self._log.warning("%s: platform rate limit (%s): robot paused %.0f s; %d queued "
                              "alert(s) will follow merged", n, result, decision.pause_seconds,
                              self.queued())
        else:
            self._note_error(result, f"retries used up, robot paused {decision.pause_seconds:.0f}"
                                     " s; alerts stay in the outbox")

    def _note_error(self, result: DeliveryResult, what: str) -> None:
        key = f"{result.kind}:{result.code}"
        level = logging.WARNING if key != self._last_error else logging.DEBUG
        self._last_error = key
        self._log.log(level, "%s: %s: %s", self.notifier.name, what, result)

    def _dequeue(self, ids: list[str]) -> None:
        with self._cond:
            for i in ids:
                self._forget(i)

    def _forget(self, id: str) -> None:
        """Called with the lock held."""
        self._queue.pop(id, None)
        self._holds.pop(id, None)
        self._reported.pop(id, None)

    def _outcome(self, batch: list[OutboxEntry], result: OutcomeResult, code: str,
                 detail: str, attempt: int = 0) -> None:
        self._emit(DeliveryOutcome(
            notifier=self.notifier.name, platform=self.notifier.platform,
            alert_ids=tuple(e.alert.id for e in batch), result=result, code=code,
            detail=detail, at=self._clock(), attempt=attempt,
            alerts=tuple(e.alert for e in batch)))


def _detail(count: int, result: DeliveryResult, decision: Decision) -> str:
    if decision.action == "confirm":
        return f"{count} alert(s) in one message"
    if decision.action == "pause":
        return f"paused {decision.pause_seconds:.0f} s: {result}"
    return str(result)
