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
from datetime import datetime, timedelta, timezone
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
from watcher.sources import ReplayClock
from watcher.wiring import build_components, rule_problems

log = logging.getLogger("kea.daemon")

SHUTDOWN_DEADLINE_SECONDS = 20.0
RULE_FILE_CHECK_SECONDS = 30.0


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def run_daemon(cfg: Config, *, replay_files: Sequence[str] | None = None) -> int:
    # The first boundary between history and news is this moment, not the end of a slow start-up
    # (templates, the spool, the history): an OOM during start-up is news. Object times have whole
    # seconds, and an OOM in the second of start-up is not history either.
    started = utcnow().replace(microsecond=0)
    redactor = setup_logging(cfg.logging.level, cfg.logging.format, cfg.secrets)
    log.info("starting: cluster=%s at %s", cfg.cluster, started.isoformat())
    tune_gc()
    stop, reload_requested = threading.Event(), threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, lambda *_: reload_requested.set())

    loaded = load_rule_set(cfg.rules.paths, builtins=cfg.rules.builtins, packs=cfg.rules.packs)
    problems = [str(p) for p in loaded.problems] or rule_problems(loaded.rules, cfg)
    if problems:
        for p in problems:
            log.error("%s", p)
        return 1

    metrics = Metrics(_version())
    health = Health()
    parts = build_components(cfg, metrics=metrics, health=health, stop=stop)
    redactor.update(cfg.secrets | parts.secrets)
    engine, checkpoint, restored = _engine(cfg, loaded.rules, parts, started=started, replay=bool(replay_files))
    router = AlertRouter(submit=parts.submit, clock=utcnow, on_alert=lambda a: metrics.record_alert(a.rule, a.status),
                         hold=max(timedelta(minutes=2), cfg.kubernetes.leader_election.lease_duration * 4),
                         delivered_ids=parts.delivered_ids,
                         on_dropped=lambda a: metrics.record_delivery("", "", "dropped", "follower_hold_full"))
    # A replay's records drive the pipeline's clock (`for` and windows as they happened); its
    # liveness is then when the pipeline last read the clock, not the time it read.
    replay_clock = ReplayClock() if replay_files else None
    pipeline = Pipeline(engine, clock=replay_clock or utcnow, on_alert=router, handlers=parts.record_handlers(),
                        checkpoint=None if checkpoint is None else parts.checkpointer(
                            boundary=checkpoint[0], complete=checkpoint[1], is_leader=lambda: router.leader),
                        on_error=lambda stage: metrics.pipeline_errors.labels(stage).inc())
    metrics.rule_matches_from(lambda: engine.match_counts)
    beat_age = (lambda: time.monotonic() - replay_clock.last_read) if replay_clock \
        else (lambda: time.time() - pipeline.heartbeat.timestamp())
    health.liveness["pipeline"] = lambda: (beat_age() < 30, "")
    health.readiness["rules"] = lambda: (bool(engine.rules), f"{len(engine.rules)} rules")
    reloader = RuleReloader(cfg.rules.paths, builtins=cfg.rules.builtins, packs=cfg.rules.packs,
                            apply=lambda rules: pipeline.call(lambda eng: eng.replace_rules(rules)),
                            validate=lambda rules: rule_problems(rules, cfg),
                            on_result=lambda result: metrics.reloads.labels(result).inc())
    server = StatusServer(cfg.metrics.address, cfg.metrics.port, health=health, registry=metrics.registry) \
        if cfg.metrics.enabled else None

    parts.start_delivery()
    pipeline.start()
    if server:
        server.start()
    parts.start_sources(pipeline.put, replay_files, leader=router, replay_clock=replay_clock, drain=pipeline.drain)
    parts.start_scheduler(router)
    log.info("started: cluster=%s rules=%d notifiers=%d elasticsearch=%s restored_incidents=%d",
             cfg.cluster, len(engine.rules), len(cfg.notifiers), "on" if cfg.elasticsearch.enabled else "off", restored)
    freeze_startup_state()

    next_check = time.monotonic() + RULE_FILE_CHECK_SECONDS
    reconciled = bool(replay_files)
    while not stop.wait(1.0):
        metrics.pipeline_queue.set(pipeline.queue.qsize())
        if not reconciled and parts.all_listed():
            reconciled = _reconcile(pipeline)
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
    if pipeline.checkpoint is not None:  # the pipeline thread is gone: the engine is ours now
        pipeline.checkpoint.save(engine, utcnow())  # type: ignore[attr-defined]
    if parts.es_checkpoints is not None:
        parts.es_checkpoints.stop()
    left = parts.stop_delivery(max(1.0, deadline - time.monotonic()))
    if server:
        server.stop()
    log.info("stopped (%d notifications left in the outbox for the next start)", left)
    return 0


def _engine(cfg: Config, rules, parts, *, started: datetime, replay: bool):
    """The engine, resumed from the newest checkpoint and the alert history. Returns (engine,
    (boundary, complete) for the checkpointer or None in a replay, incidents restored)."""
    history = parts.open_incidents()  # first: it drains the spool, which may hold the checkpoint's peers
    if replay:
        # A replay feeds old recordings as if they were happening now: nothing in them is history,
        # and no checkpoint is read or written. Open incidents still come from the history.
        engine = Engine(rules)
        return engine, None, engine.restore(history, now=utcnow())
    saved = parts.load_checkpoint()
    now = utcnow()
    if saved is None:
        engine = Engine(rules, stale_before=started)
        restored = 0
        log.info("no checkpoint: history is what happened before %s", started.isoformat())
    else:
        engine = Engine(rules, stale_before=saved.watched_until,
                        watched_until=saved.watched_until if saved.complete else None)
        restored = engine.restore_snapshot(saved.snapshot, now=now)
        log.info("resuming from the checkpoint: watched until %s; what happened since is news (%d incidents restored)",
                 saved.watched_until.isoformat(), restored)
    restored += engine.restore(history, now=now)
    boundary = saved.watched_until if saved is not None else started
    return engine, (boundary, saved.complete if saved is not None else False), restored


def _reconcile(pipeline: Pipeline) -> bool:
    """Once the first LISTs are in: settle restored incidents whose subject is gone."""
    if not pipeline.drain(5.0):
        return False
    pipeline.call(lambda eng: eng.defer(eng.reconcile(utcnow())))
    return True


def _version() -> str:
    try:
        return version("kube-event-alerter")
    except PackageNotFoundError:
        return "unknown"

