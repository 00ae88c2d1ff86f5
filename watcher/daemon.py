"""`kube-event-alerter run`: wire sources → pipeline → dispatcher, and stop cleanly.

SIGTERM / SIGINT set a stop flag; the daemon then stops its sources, lets the pipeline drain,
flushes what it can within a deadline and exits 0. What could not be flushed stays on disk
(outbox) for the next start.
"""
from __future__ import annotations

import logging
import signal
import threading
from datetime import datetime, timezone
from typing import Sequence

from rules.alert import Alert
from rules.engine import Engine
from rules.loader import load_rule_set
from watcher.config import Config
from watcher.pipeline import Pipeline

log = logging.getLogger("kea.daemon")

SHUTDOWN_DEADLINE_SECONDS = 20.0


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def run_daemon(cfg: Config, *, replay_files: Sequence[str] | None = None) -> int:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: stop.set())
    loaded = load_rule_set(cfg.rules.paths, builtins=cfg.rules.builtins)
    if not loaded.ok:
        for p in loaded.problems:
            log.error("%s", p)
        return 1
    engine = Engine(loaded.rules, stale_before=utcnow())
    pipeline = Pipeline(engine, clock=utcnow, on_alert=_log_alert)
    pipeline.start()
    log.info("started: cluster=%s rules=%d", cfg.cluster, len(engine.rules))
    if replay_files:
        from watcher.sources import ReplaySource

        source = ReplaySource(replay_files, cluster=cfg.cluster, sink=pipeline.put, stop=stop)
        source.start()
    stop.wait()
    log.info("stopping")
    pipeline.drain(SHUTDOWN_DEADLINE_SECONDS)
    pipeline.stop()
    return 0


def _log_alert(alert: Alert) -> None:
    log.warning("%s %s %s", alert.status.upper(), alert.rule, alert.summary)
