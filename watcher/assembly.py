"""The daemon, assembled in one place: every long-lived piece built and named here, in order.

    persistence  checkpoint and inhibition state in data_dir; Elasticsearch sink, alert history (when enabled)
    silences     the silence store (ES or data_dir) and its HTTP API (watcher/silences)
    delivery     notifiers → outbox → dispatcher; the notify path's last step records outcomes
    pipeline     records → cluster state → rules → alert router, and → the sink
    status       /metrics, /healthz, /readyz, and the silences' routes
    sources      the cluster's watchers and the Lease loop, or a replay
    scheduler    retention, digest, watchdog

Each is a `watcher.service.Service`: started in this order, stopped in reverse with one
deadline, asked for its readiness checks. The engine is resumed before anything starts, from
the newest checkpoint and the alert history (see `rules.engine` on history and news).
(kopf's `spawn_tasks` is the model: flat, every piece named in one function.)
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable, Mapping, Optional, Sequence

from apscheduler.schedulers.background import BackgroundScheduler

from notifiers.clock import utcnow
from notifiers.inhibition import Inhibitor
from rules.engine import Engine
from rules.rule import Rule
from watcher.alerting import AlertRouter
from watcher.checkpoint import Checkpointer
from watcher.config import Config, build_inhibit_rules
from watcher.delivery import Delivery
from watcher.digest import digest_alert
from watcher.health import App, Check, Health, StatusServer
from watcher.inhibition_state import DurableInhibitor, durable_inhibitor
from watcher.jobs import Watchdog, build_scheduler
from watcher.metrics import Metrics
from watcher.persistence import Persistence
from watcher.pipeline import Pipeline
from watcher.reload import RuleReloader
from watcher.service import Service, remaining
from watcher.decisions import endpoints_for
from watcher.silences.service import build_silences
from watcher.sourcing import Sources
from watcher.sources import ReplayClock

log = logging.getLogger("kea.daemon")

SHUTDOWN_DEADLINE_SECONDS = 20.0
RULE_FILE_CHECK_SECONDS = 30.0
#: The pipeline is alive while it read its clock this recently.
PIPELINE_STALL_SECONDS = 30.0


class PipelineService:
    name = "pipeline"

    def __init__(self, pipeline: Pipeline, checkpointer: Optional[Checkpointer], *,
                 replay_clock: Optional[ReplayClock]) -> None:
        self.pipeline, self.checkpointer, self.replay_clock = pipeline, checkpointer, replay_clock

    def start(self) -> None:
        self.pipeline.start()

    def stop(self, deadline: float) -> None:
        self.pipeline.drain(remaining(deadline, at_least=1.0))
        self.pipeline.stop()
        if self.checkpointer is not None:  # the pipeline thread is gone: the engine is ours now
            self.checkpointer.save(self.pipeline.engine, utcnow())

    def checks(self) -> Mapping[str, Check]:
        engine = self.pipeline.engine
        return {"rules": lambda: (bool(engine.rules), f"{len(engine.rules)} rules")}

    def alive(self) -> tuple[bool, str]:
        # A replay's clock is the records' time: its liveness is when the pipeline last read it.
        age = (time.monotonic() - self.replay_clock.last_read) if self.replay_clock is not None \
            else time.time() - self.pipeline.heartbeat.timestamp()
        return age < PIPELINE_STALL_SECONDS, ""


class StatusService:
    name = "status"

    def __init__(self, cfg: Config, health: Health, metrics: Metrics, apps: Sequence[App] = ()) -> None:
        self.server = StatusServer(cfg.metrics.address, cfg.metrics.port, health=health,
                                   registry=metrics.registry, apps=apps) if cfg.metrics.enabled else None

    def start(self) -> None:
        if self.server is not None:
            self.server.start()

    def stop(self, deadline: float) -> None:
        if self.server is not None:
            self.server.stop()

    def checks(self) -> Mapping[str, Check]:
        return {}


class SchedulerService:
    """The scheduled jobs; built when started, after the sources exist (the watchdog reads them)."""

    name = "scheduler"

    def __init__(self, cfg: Config, jobs: Callable[[], dict[str, Callable[[], None]]]) -> None:
        self.cfg, self.jobs = cfg, jobs
        self.scheduler: Optional[BackgroundScheduler] = None

    def start(self) -> None:
        scheduler = build_scheduler(self.cfg.scheduler, self.cfg.timezone, self.jobs())
        scheduler.start()
        self.scheduler = scheduler

    def stop(self, deadline: float) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)

    def checks(self) -> Mapping[str, Check]:
        return {}


@dataclass
class Daemon:
    services: list[Service]
    engine: Engine
    pipeline: Pipeline
    reloader: RuleReloader
    metrics: Metrics
    health: Health
    sources: Sources
    restored: int = 0
    replay: bool = False
    outbox_pending: Callable[[], int] = lambda: 0
    inhibitor: Optional[DurableInhibitor] = None
    _reconciled: bool = field(default=False, init=False)

    def start(self) -> None:
        for service in self.services:
            self.health.readiness.update(service.checks())
        for service in self.services:
            service.start()

    def tick(self, reload_requested: threading.Event, next_check: float) -> float:
        """One pass of the main loop (every second); returns when to look at the rule files next."""
        self.metrics.outbox_pending.set(self.outbox_pending())  # outcomes are recorded before the outbox settles
        if not (self.replay or self._reconciled) and self.sources.all_listed():
            self._reconciled = self._reconcile()
        if reload_requested.is_set():
            reload_requested.clear()
            self.reloader.reload("SIGHUP")
        elif time.monotonic() >= next_check:
            next_check = time.monotonic() + RULE_FILE_CHECK_SECONDS
            self.reloader.check_files()
        return next_check

    def run(self, stop: threading.Event, reload_requested: threading.Event) -> None:
        next_check = time.monotonic() + RULE_FILE_CHECK_SECONDS
        while not stop.wait(1.0):
            next_check = self.tick(reload_requested, next_check)

    def shutdown(self) -> None:
        log.info("stopping: draining the pipeline, saving the checkpoint, flushing the outbox and bulk "
                 "queue (deadline %ss)", SHUTDOWN_DEADLINE_SECONDS)
        deadline = time.monotonic() + SHUTDOWN_DEADLINE_SECONDS
        for service in reversed(self.services):
            try:
                service.stop(deadline)
            except Exception:  # one piece failing to stop must not keep the others from stopping
                log.exception("stopping %s failed", service.name)
        log.info("stopped")

    def _reconcile(self) -> bool:
        """Once the first LISTs are in: settle restored incidents whose subject is gone."""
        if not self.pipeline.drain(5.0):
            return False
        self.pipeline.call(lambda eng: eng.defer(eng.reconcile(utcnow())))
        return True


def assemble(cfg: Config, rules: Sequence[Rule], *, stop: threading.Event, started: datetime,
             metrics: Metrics, replay_files: Optional[Sequence[str]] = None) -> Daemon:
    """Build every piece of the daemon from the config, in start order (nothing starts here)."""
    health = Health()
    persistence = Persistence(cfg, stats=metrics.sink_stats, history_stats=metrics.history_stats)
    silences = build_silences(cfg, es_client=persistence.es, stats=metrics.silence_stats)
    # Its sources restored from data_dir before the dispatcher judges anything held from before
    # (not in a replay, which, as with the checkpoint, reads and writes no state).
    inhibitor = durable_inhibitor(Inhibitor(build_inhibit_rules(cfg, endpoints_for(rules))),
                                  None if replay_files else cfg.data_dir)
    delivery = Delivery(cfg, metrics=metrics, record=persistence.record, delivered_ids=persistence.delivered_ids,
                        silences=silences.provider, inhibitor=inhibitor)
    engine, boundary, restored = resume_engine(rules, persistence, started=started, replay=bool(replay_files))
    router = AlertRouter(submit=delivery.submit, on_alert=lambda a: metrics.record_alert(a.rule, a.status),
                         hold=delivery.hold, on_leading=delivery.start_sending, on_following=delivery.stop_sending,
                         on_dropped=lambda a: metrics.record_delivery("", "", "dropped", "follower_hold_full"))
    replay_clock = ReplayClock() if replay_files else None
    sources_ref: list[Sources] = []
    checkpointer = None if boundary is None else persistence.checkpointer(
        boundary=boundary[0], complete=boundary[1], watching=lambda: bool(sources_ref) and sources_ref[0].watching(),
        is_leader=lambda: router.leader)
    pipeline = Pipeline(engine, clock=replay_clock or utcnow, on_alert=router, handlers=persistence.record_handlers(),
                        checkpoint=checkpointer, on_error=lambda stage: metrics.pipeline_errors.labels(stage).inc(),
                        endpoints_listed=lambda: bool(sources_ref) and sources_ref[0].endpoints_known())
    pipeline_service = PipelineService(pipeline, checkpointer, replay_clock=replay_clock)
    sources = Sources(cfg, put=pipeline.put, leader=router, stop=stop, metrics=metrics, health=health,
                      replay_files=replay_files, replay_clock=replay_clock, drain=pipeline.drain,
                      lease_annotations=delivery.lease_annotations)
    sources_ref.append(sources)
    delivery.inherited_annotations = sources.inherited_annotations
    metrics.rule_matches_from(lambda: engine.match_counts)
    metrics.pipeline_queue.set_function(pipeline.queue.qsize)  # read when scraped, not once a second
    metrics.pipeline_records_from(lambda: pipeline.processed)
    metrics.inhibition_from(inhibitor.stats)
    health.liveness["pipeline"] = pipeline_service.alive
    def apply(new: list[Rule]) -> dict[str, str]:  # installed on the pipeline thread, the engine's only writer
        how = pipeline.call(lambda eng: eng.replace_rules(new))
        inhibitor.replace_rules(build_inhibit_rules(cfg, endpoints_for(new)))  # the OOM look-ahead follows `for`
        return how

    reloader = RuleReloader(cfg.rules.paths, builtins=cfg.rules.builtins, apply=apply,
                            notifiers=cfg.notifiers, on_result=lambda result: metrics.reloads.labels(result).inc(),
                            packs=cfg.rules.packs)
    scheduler = SchedulerService(cfg, lambda: _jobs(cfg, persistence, delivery, sources, router))
    services: list[Service] = [persistence, silences, delivery, pipeline_service,
                               StatusService(cfg, health, metrics, silences.apps), sources, scheduler]
    return Daemon(services=services, engine=engine, pipeline=pipeline, reloader=reloader, metrics=metrics,
                  health=health, sources=sources, restored=restored, replay=bool(replay_files),
                  outbox_pending=delivery.dispatcher.pending, inhibitor=inhibitor)


def resume_engine(rules: Sequence[Rule], persistence: Persistence, *, started: datetime,
                  replay: bool) -> tuple[Engine, Optional[tuple[datetime, bool]], int]:
    """The engine, resumed from the newest checkpoint and the alert history. Returns (engine,
    (boundary, complete) for the checkpointer — None in a replay —, incidents restored)."""
    history = persistence.open_incidents()  # first: it drains the spool
    if replay:
        # A replay feeds old recordings as if they were happening now: nothing in them is history,
        # and no checkpoint is read or written. Open incidents still come from the history.
        engine = Engine(rules)
        return engine, None, engine.restore(history, now=utcnow())
    saved = persistence.load_checkpoint()
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


def _jobs(cfg: Config, persistence: Persistence, delivery: Delivery, sources: Sources,
          router: AlertRouter) -> dict[str, Callable[[], None]]:
    dog = Watchdog(cluster=cfg.cluster, silence=cfg.scheduler.watchdog_silence, watchers=sources.watch_ages(),
                   api_reachable=lambda: sources.api_reachable(), **delivery.watchdog_view())

    def watchdog() -> None:
        for alert in dog.check(utcnow()):
            router(alert)

    jobs: dict[str, Callable[[], None]] = {"watchdog": watchdog}
    if persistence.es is not None:
        from watcher.es import delete_old_indices

        es, client, history = cfg.elasticsearch, persistence.es, persistence.history

        def retention() -> None:
            delete_old_indices(client, es.index_prefix, es.retention_days, utcnow())

        def digest() -> None:
            now = utcnow()
            router(digest_alert(cfg.cluster, history.digest(cfg.cluster, now - timedelta(days=1), until=now), now))

        jobs["retention"], jobs["digest"] = retention, digest
    elif persistence.local_history is not None:
        local = persistence.local_history

        def local_retention() -> None:
            local.prune(utcnow())

        jobs["retention"] = local_retention
    return jobs

