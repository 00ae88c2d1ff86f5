"""`kube-event-alerter run`: wire sources → pipeline → alert router → dispatcher, the
Elasticsearch sink beside them, and stop cleanly.

Start-up order matters: the outbox and the alert history come first (so a restart resends
what was not confirmed and restores open incidents), then the engine, then the sources. On
SIGTERM / SIGINT the daemon stops the sources, lets the pipeline drain, flushes the outbox and
the bulk queue within a deadline (what is left stays on disk for the next start), releases the
Lease and exits 0. SIGHUP reloads the rules.
"""
from __future__ import annotations

import logging
import signal
import threading
import time
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from typing import Sequence

from rules.engine import Engine
from rules.loader import load_rule_set
from watcher.alerting import AlertRouter
from watcher.config import Config
from watcher.gctune import freeze_startup_state, tune_gc
from watcher.health import Health, StatusServer
from watcher.logsetup import setup_logging
from watcher.metrics import Metrics
from watcher.pipeline import Pipeline
from watcher.reload import RuleReloader
from watcher.wiring import build_components, rule_problems

log = logging.getLogger("kea.daemon")

SHUTDOWN_DEADLINE_SECONDS = 20.0
RULE_FILE_CHECK_SECONDS = 30.0


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def run_daemon(cfg: Config, *, replay_files: Sequence[str] | None = None) -> int:
    redactor = setup_logging(cfg.logging.level, cfg.logging.format, cfg.secrets)
    tune_gc()
    stop, reload_requested = threading.Event(), threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, lambda *_: reload_requested.set())

    loaded = load_rule_set(cfg.rules.paths, builtins=cfg.rules.builtins)
    problems = [str(p) for p in loaded.problems] or rule_problems(loaded.rules, cfg)
    if problems:
        for p in problems:
            log.error("%s", p)
        return 1

    metrics = Metrics(_version())
    health = Health()
    parts = build_components(cfg, metrics=metrics, health=health, stop=stop)
    redactor.update(cfg.secrets | parts.secrets)
    # Live, history is whatever happened before this start (to the second: object times such as
    # finishedAt have whole seconds, and an OOM in the second of start-up is not history). A
    # replay feeds old recordings as if they were happening now: nothing in them is history.
    engine = Engine(loaded.rules, stale_before=None if replay_files else utcnow().replace(microsecond=0))
    restored = engine.restore(parts.open_incidents(), now=utcnow())
    router = AlertRouter(submit=parts.submit, on_alert=lambda a: metrics.record_alert(a.rule, a.status),
                         hold=parts.hold, on_leading=parts.start_sending, on_following=parts.stop_sending,
                         on_dropped=lambda a: metrics.record_delivery("", "", "dropped", "follower_hold_full"))
    pipeline = Pipeline(engine, clock=utcnow, on_alert=router, on_record=parts.on_record)
    metrics.rule_matches_from(lambda: engine.match_counts)
    health.liveness["pipeline"] = lambda: (time.time() - pipeline.heartbeat.timestamp() < 30, "")
    health.readiness["rules"] = lambda: (bool(engine.rules), f"{len(engine.rules)} rules")
    reloader = RuleReloader(cfg.rules.paths, builtins=cfg.rules.builtins,
                            apply=lambda rules: pipeline.call(lambda eng: eng.replace_rules(rules)),
                            validate=lambda rules: rule_problems(rules, cfg),
                            on_result=lambda result: metrics.reloads.labels(result).inc())
    server = StatusServer(cfg.metrics.address, cfg.metrics.port, health=health, registry=metrics.registry) \
        if cfg.metrics.enabled else None

    parts.start_delivery()
    pipeline.start()
    if server:
        server.start()
    parts.start_sources(pipeline.put, replay_files, leader=router)
    parts.start_scheduler(router)
    log.info("started: cluster=%s rules=%d notifiers=%d elasticsearch=%s restored_incidents=%d",
             cfg.cluster, len(engine.rules), len(cfg.notifiers), "on" if cfg.elasticsearch.enabled else "off", restored)
    freeze_startup_state()

    next_check = time.monotonic() + RULE_FILE_CHECK_SECONDS
    while not stop.wait(1.0):
        metrics.pipeline_queue.set(pipeline.queue.qsize())
        if reload_requested.is_set():
            reload_requested.clear()
            reloader.reload("SIGHUP")
        elif time.monotonic() >= next_check:
            next_check = time.monotonic() + RULE_FILE_CHECK_SECONDS
            reloader.check_files()

    log.info("stopping: draining the pipeline, flushing the outbox and bulk queue (deadline %ss)",
             SHUTDOWN_DEADLINE_SECONDS)
    deadline = time.monotonic() + SHUTDOWN_DEADLINE_SECONDS
    parts.stop_sources()
    pipeline.drain(max(1.0, deadline - time.monotonic()))
    pipeline.stop()
    left = parts.stop_delivery(max(1.0, deadline - time.monotonic()))
    if server:
        server.stop()
    log.info("stopped (%d notifications left in the outbox for the next start)", left)
    return 0


def _version() -> str:
    try:
        return version("kube-event-alerter")
    except PackageNotFoundError:
        return "unknown"

