"""One delivery loop per notifier: wait for the robot → merge what queued → send → settle.

This is the one place that retries (tenacity: exponential backoff with jitter, bounded by
`retry_attempts`), pauses a robot and decides what happens to outbox entries:
  ok         → confirmed in the outbox, `sent`
  permanent  → dead-lettered, `failed`, logged as an error with the platform's meaning
  throttle   → the robot pauses for the platform's period (DingTalk 130101: ~10 min), the
               alerts stay queued and go out merged into a digest afterwards, `paused`
  retry used up → the robot pauses with growing backoff (30 s … 10 min), alerts stay queued
Every HTTP attempt, retries included, takes a token from the robot's rate limiter first.
Errors are logged when they change, not on every attempt (as Alertmanager's retry stage).

Only while `may_send()` (this replica holds the Lease) does the loop take work or start an
HTTP attempt; otherwise the entries wait, queued and on disk. A request already in flight
when leadership goes is finished and settled.

Time: the monotonic clock and sleep come from the caller. Without an injected sleep the loop
waits on its condition variable, so `stop()` interrupts a pause at once.
"""
from __future__ import annotations

import logging
import random
import threading
from typing import Callable

from tenacity import RetryCallState, Retrying, retry_if_result, stop_after_attempt
from tenacity.wait import wait_exponential_jitter

from .base import DeliveryResult, Message, Notifier
from .clock import Monotonic, Sleep, WallClock
from .outbox import Outbox, OutboxEntry
from .outcome import DeliveryOutcome, OutcomeResult

_BACKOFF_FIRST = 30.0
_BACKOFF_MAX = 600.0


class Aborted(Exception):
    """Stop was requested and the next step would end after its deadline."""


class Withheld(Exception):
    """This replica stopped sending (lost the Lease) before the next attempt."""


class Worker:
    def __init__(self, notifier: Notifier, *, outbox: Outbox,
                 emit: Callable[[DeliveryOutcome], None], clock: WallClock,
                 monotonic: Monotonic, sleep: Sleep | None,
                 may_send: Callable[[], bool] = lambda: True) -> None:
        self.notifier = notifier
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
                self.notifier.limiter.pause(_BACKOFF_FIRST, reason="internal error")

    def step(self) -> None:
        """Send one message (single alert or digest) and settle its entries."""
        self._sleep_until_ready()
        with self._cond:
            entries = list(self._queue.values())
        if not entries:
            return
        if self.notifier.limiter.available() >= len(entries):
            # Room for each alert on its own: no need to merge.
            entries = entries[:1]
        built = self.notifier.build([e.alert for e in entries])
        batch = entries[: built.count]
        result = self._send(built.message, batch)
        self._settle(batch, result)

    def _wait_for_work(self) -> bool:
        with self._cond:
            while not (self._queue and self._may_send()):
                if self._stopping:
                    return False
                self._cond.wait(1.0)
            return True

    def _sleep_until_ready(self) -> None:
        while (wait := self.notifier.limiter.delay()) > 0:
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
    def _send(self, message: Message, batch: list[OutboxEntry]) -> DeliveryResult:
        s = self.notifier.settings
        retrying = Retrying(
            stop=stop_after_attempt(s.retry_attempts),
            wait=wait_exponential_jitter(initial=1.0, max=s.retry_max_seconds, jitter=1.0),
            retry=retry_if_result(lambda r: r.kind == "retry"),
            retry_error_callback=lambda state: state.outcome.result(),
            before_sleep=lambda state: self._on_retry(batch, state),
            sleep=self._sleep,
        )
        return retrying(self._attempt, message)

    def _attempt(self, message: Message) -> DeliveryResult:
        while (wait := self.notifier.limiter.try_acquire()) > 0:
            self._sleep(wait)
        with self._cond:
            if self._deadline is not None and self._monotonic() > self._deadline:
                raise Aborted()
        if not self._may_send():
            raise Withheld()
        return self.notifier.deliver(message)

    def _on_retry(self, batch: list[OutboxEntry], state: RetryCallState) -> None:
        result: DeliveryResult = state.outcome.result()
        self._note_error(result, f"attempt {state.attempt_number} failed, retrying")
        self._outcome(batch, "retried", result.code, str(result), attempt=state.attempt_number)

    def _settle(self, batch: list[OutboxEntry], result: DeliveryResult) -> None:
        ids = [e.id for e in batch]
        n = self.notifier.name
        if result.ok:
            self._outbox.confirm(ids)
            self._dequeue(ids)
            if self._last_error:
                self._log.info("%s: delivering again after: %s", n, self._last_error)
            self._failures, self._last_error = 0, ""
            self._log.info("%s: sent %d alert(s) (%s)", n, len(ids), result.code)
            self._outcome(batch, "sent", result.code, f"{len(ids)} alert(s) in one message")
        elif result.kind == "permanent":
            self._outbox.fail(ids, code=result.code, detail=str(result))
            self._dequeue(ids)
            self._log.error("%s: platform rejected %d alert(s), not retried: %s "
                            "(kept in the outbox's failed/ directory)", n, len(ids), result)
            self._outcome(batch, "failed", result.code, str(result))
        elif result.kind == "throttle":
            pause = (result.retry_after or self.notifier.settings.throttle_pause_seconds)
            pause *= random.uniform(1.0, 1.1)
            self.notifier.limiter.pause(pause, reason=result.code)
            self._log.warning("%s: platform rate limit (%s): robot paused %.0f s; %d queued "
                              "alert(s) will follow merged", n, result, pause, self.queued())
            self._outcome(batch, "paused", result.code, f"paused {pause:.0f} s: {result}")
        else:
            self._failures += 1
            pause = min(_BACKOFF_MAX, _BACKOFF_FIRST * 2 ** (self._failures - 1))
            pause *= random.uniform(1.0, 1.1)
            self.notifier.limiter.pause(pause, reason=result.code)
            self._note_error(result, f"retries used up, robot paused {pause:.0f} s; alerts "
                                     "stay in the outbox")
            self._outcome(batch, "paused", result.code, f"paused {pause:.0f} s: {result}")

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
