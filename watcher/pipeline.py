"""The one-way pipeline in the daemon: records in, alert changes out to the dispatcher.

One thread owns the engine (it is not thread-safe by design: a single writer keeps it simple
and fast). Sources put records on a bounded queue; the pipeline thread drains it, calls the
engine, ticks timers once a second, and hands alert changes to `on_alert`. Only the leader
sends: followers keep the engine warm so a failover loses nothing.
"""
from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future
from datetime import datetime
from typing import Callable, Optional

from rules.alert import Alert
from rules.engine import Engine
from rules.model import Record

log = logging.getLogger("kea.pipeline")

Clock = Callable[[], datetime]


class Pipeline:
    def __init__(self, engine: Engine, *, clock: Clock, on_alert: Callable[[Alert], None],
                 on_record: Optional[Callable[[Record], None]] = None,
                 max_queue: int = 100_000, tick_seconds: float = 1.0) -> None:
        self.engine = engine
        self.clock = clock
        self.on_alert = on_alert
        self.on_record = on_record
        self.queue: "queue.Queue[Record]" = queue.Queue(maxsize=max_queue)
        self.tick_seconds = tick_seconds
        self.processed = 0
        self.heartbeat = clock()
        self._calls: "queue.SimpleQueue[tuple[Callable[[Engine], object], Future]]" = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pipeline", daemon=True)

    def put(self, record: Record) -> None:
        """Called by source threads. Blocks when the queue is full: back-pressure on the
        watch stream is better than dropping a change."""
        self.queue.put(record)

    def call(self, fn: Callable[[Engine], object], timeout: float = 30.0) -> object:
        """Run `fn(engine)` on the pipeline thread (the engine's only writer), between records;
        returns its result. Used for rule reloads and state snapshots."""
        future: Future = Future()
        self._calls.put((fn, future))
        return future.result(timeout)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Drain what is queued, then stop."""
        self._stop.set()
        self._thread.join(timeout)

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far has been processed. Woken by the last
        `task_done` (a replay drains before every step of its clock: no polling delay)."""
        import time

        deadline = time.monotonic() + timeout
        with self.queue.all_tasks_done:
            while self.queue.unfinished_tasks:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.queue.all_tasks_done.wait(left)
        return True

    def _run(self) -> None:
        last_tick = 0.0
        while True:
            try:
                record = self.queue.get(timeout=self.tick_seconds / 4)
            except queue.Empty:
                record = None
                if self._stop.is_set():
                    break
            now = self.clock()
            self.heartbeat = now
            self._run_calls()
            # Timers due by `now` fire before a record at `now` is judged (a replay's clock jumps
            # to each record's time: the record must not resolve what was due to fire first).
            if now.timestamp() - last_tick >= self.tick_seconds:
                last_tick = now.timestamp()
                try:
                    self._emit(self.engine.tick(now))
                except Exception:  # the loop must outlive a failing sink; liveness shows it if not
                    log.exception("timer tick failed")
            if record is not None:
                try:
                    self._emit(self.engine.process(record, now))
                    if self.on_record is not None:
                        self.on_record(record)
                except Exception:  # one bad record must not stop the daemon
                    log.exception("failed to process %s %s/%s", record.kind, record.namespace, record.name)
                finally:
                    self.processed += 1
                    self.queue.task_done()

    def _run_calls(self) -> None:
        while True:
            try:
                fn, future = self._calls.get_nowait()
            except queue.Empty:
                return
            try:
                future.set_result(fn(self.engine))
            except Exception as exc:
                future.set_exception(exc)

    def _emit(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            log.info("alert decision rule=%s key=%s status=%s id=%s", alert.rule, alert.key, alert.status, alert.id)
            self.on_alert(alert)
