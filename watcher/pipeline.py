"""The one-way pipeline in the daemon: records in, alert changes out, each record fanned out.

One thread owns the engine (it is not thread-safe by design: a single writer keeps it simple
and fast). Sources put records on a bounded queue; the pipeline thread drains it and, per record:
  1. updates the shared cluster state once (`Engine.observe`),
  2. runs the rules on it (`Engine.evaluate`) and hands each alert change to `on_alert`,
  3. hands the record and what it changed to every other handler (the Elasticsearch sink),
each step behind its own error boundary, as an informer's handlers are: a failing alert path
never costs a document, a failing sink never costs an alert. It ticks timers once a second and
lets the checkpointer save the engine's state. Only the leader sends: followers keep the engine
warm so a failover loses nothing.
"""
from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future
from datetime import datetime
from typing import Any, Callable, Optional, Protocol, Sequence, TypeVar

from rules.alert import Alert
from rules.engine import Engine
from rules.model import Record
from rules.state import Observation
from watcher.record_queue import RecordQueue

log = logging.getLogger("kea.pipeline")
_T = TypeVar("_T")

Clock = Callable[[], datetime]
RecordHandler = Callable[[Record, Optional[Observation]], None]


class Checkpointing(Protocol):
    def save(self, engine: Engine, now: datetime) -> None: ...

    def maybe_save(self, engine: Engine, now: datetime, *, idle: bool) -> None: ...


class Pipeline:
    def __init__(self, engine: Engine, *, clock: Clock, on_alert: Callable[[Alert], None],
                 handlers: Sequence[RecordHandler] = (), checkpoint: Optional[Checkpointing] = None,
                 on_error: Callable[[str], None] = lambda stage: None,
                 max_queue: int = 100_000, tick_seconds: float = 1.0,
                 endpoints_listed: Callable[[], bool] = lambda: False) -> None:
        """`handlers`: the record's other consumers, each called with the record and what it
        changed in the state. `on_error(stage)`: counts a failure of `observe`, `rules`,
        `alert` (one alert change's delivery), `handler` or `tick`. `endpoints_listed()`: the
        endpoint sources have listed (see `_note_endpoints_known`)."""
        self.engine = engine
        self.clock = clock
        self.on_alert = on_alert
        self.handlers = tuple(handlers)
        self.checkpoint = checkpoint
        self.on_error = on_error
        self.endpoints_listed = endpoints_listed
        self.queue: RecordQueue[Record] = RecordQueue(max_queue)
        self.tick_seconds = tick_seconds
        self.processed = 0
        self.heartbeat = clock()
        self._calls: "queue.SimpleQueue[tuple[Callable[[Engine], Any], Future[Any]]]" = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pipeline", daemon=True)

    def put(self, record: Record) -> None:
        """Called by source threads. Blocks when the queue is full: back-pressure on the
        watch stream is better than dropping a change."""
        self.queue.put(record)

    def call(self, fn: Callable[[Engine], _T], timeout: float = 30.0) -> _T:
        """Run `fn(engine)` on the pipeline thread (the engine's only writer), between records;
        returns its result. Used for rule reloads and state snapshots."""
        future: Future[_T] = Future()
        self._calls.put((fn, future))
        return future.result(timeout)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Drain what is queued, then stop."""
        self._stop.set()
        self._thread.join(timeout)

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far has been processed. Woken when the last batch
        is done (a replay drains before every step of its clock: no polling delay)."""
        return self.queue.join(timeout)

    def _run(self) -> None:
        last_tick = 0.0
        while True:
            batch: list[Optional[Record]] = list(self.queue.take(timeout=self.tick_seconds / 4))
            if not batch:
                if self._stop.is_set():
                    break
                batch = [None]  # nothing came: still tick, answer calls, maybe save
            try:
                for record in batch:
                    now = self.clock()
                    self.heartbeat = now
                    self._run_calls()
                    # Timers due by `now` fire before a record at `now` is judged (a replay's clock
                    # jumps to each record's time: the record must not resolve what was due first).
                    if now.timestamp() - last_tick >= self.tick_seconds:
                        last_tick = now.timestamp()
                        self._guard("tick", lambda: self._emit(self.engine.tick(now), now))
                    if record is not None:
                        self._fan_out(record, now)
                        self.processed += 1
            finally:
                self.queue.done(sum(1 for record in batch if record is not None))
            # After the whole batch: "the queue is empty" must mean "all of it is in the state".
            self._note_endpoints_known()
            if self.checkpoint is not None:
                self._guard("checkpoint", lambda: self.checkpoint.maybe_save(  # type: ignore[union-attr]
                    self.engine, now, idle=self.queue.empty()))

    def _note_endpoints_known(self) -> None:
        """Tell the state that its Services are complete: the endpoint sources have listed and
        every record queued before that has been read (asked in this order, the LIST's records
        were all queued before `listed` was set). An OOM then knows whether its pod backs a
        Service even where none exists, and the inhibition does not hold it for nothing."""
        services = self.engine.state.services
        if not services.known and self.endpoints_listed() and self.queue.empty():
            services.known = True

    def _fan_out(self, record: Record, now: datetime) -> None:
        """One record to the state, the rules and the other handlers, each failing alone."""
        where = f"{record.kind} {record.namespace}/{record.name}"
        obs: Optional[Observation] = None
        try:
            obs = self.engine.observe(record)
        except Exception:  # the state could not take it: the rules skip it, the sink still gets it
            log.exception("failed to update the cluster state with %s", where)
            self.on_error("observe")
        if obs is not None:
            try:
                alerts = self.engine.evaluate(record, obs, now)
            except Exception:
                log.exception("rules failed on %s", where)
                self.on_error("rules")
                alerts = []
            self._emit(alerts, now)
        for handler in self.handlers:
            try:
                handler(record, obs)
            except Exception:
                log.exception("record handler %s failed on %s", getattr(handler, "__qualname__", handler), where)
                self.on_error("handler")

    def _guard(self, stage: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception:  # the loop must outlive a failing sink; liveness shows it if not
            log.exception("%s failed", stage)
            self.on_error(stage)

    def _run_calls(self) -> None:
        calls = self._calls
        while not calls.empty():  # (this thread is the only consumer: empty() is exact here)
            fn, future = calls.get_nowait()
            try:
                future.set_result(fn(self.engine))
            except Exception as exc:
                future.set_exception(exc)

    def _emit(self, alerts: list[Alert], now: datetime) -> None:
        for alert in alerts:
            log.info("alert decision rule=%s key=%s status=%s id=%s", alert.rule, alert.key, alert.status, alert.id)
            try:
                self.on_alert(alert)
            except Exception:  # one alert's trouble must not cost the next one, or the record's documents
                log.exception("alert %s could not be handed on", alert.id)
                self.on_error("alert")
        if alerts and self.checkpoint is not None:
            # After the outbox has them (durably), at once: a crash before this save re-decides
            # the same alerts under the same ids after the restart (the outbox refuses a second
            # copy); a save before the outbox write could restore an incident as announced whose
            # message was never written, and it would never be sent.
            self._guard("checkpoint", lambda: self.checkpoint.save(self.engine, now))  # type: ignore[union-attr]
