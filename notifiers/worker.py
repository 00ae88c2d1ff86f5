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
from typing import Callable

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

Attempted = tuple[DeliveryResult, Decision]


class Aborted(Exception):
    """Stop was requested and the next step would end after its deadline."""


class Withheld(Exception):
    """This replica stopped sending (lost the Lease) before the next attempt."""


class Worker:
    def __init__(self, notifier: Notifier, *, limiter: RateLimiter, outbox: Outbox,
                 emit: Callable[[DeliveryOutcome], None], clock: WallClock,
                 monotonic: Monotonic, sleep: Sleep | None,
                 may_send: Callable[[], bool] = lambda: True) -> None:
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

    def discard(self, entry_id: str) -> None:
        with self._cond:
            self._queue.pop(entry_id, None)

    def wake(self) -> None:
        """`may_send()` may have changed: look again."""
        with self._cond:
            self._cond.notify_all()

    def queued(self) -> int:
        with self._cond:
            return len(self._queue)

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
        with self._cond:
            entries = list(self._queue.values())
        if not entries:
            return
        if self.limiter.available() >= len(entries):
            # Room for each alert on its own: no need to merge.
            entries = entries[:1]
        built = self.notifier.build([e.alert for e in entries])
        batch = entries[: built.count]
        result, decision = self._send(built.message, batch)
        self._settle(batch, result, decision)

    def _wait_for_work(self) -> bool:
        with self._cond:
            while not (self._queue and self._may_send()):
                if self._stopping:
                    return False
                self._cond.wait(1.0)
            return True

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
                self._queue.pop(i, None)

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
