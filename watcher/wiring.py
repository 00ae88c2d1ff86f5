"""Build the daemon's components from the config, and start and stop them in order.

`Components` owns the delivery side (notifiers, outbox, dispatcher), the optional
Elasticsearch side (client, sink, alert history), the sources (cluster watchers or a replay)
with leader election, and the scheduler. `watcher/daemon.py` only sequences them.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import OrderedDict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence

from notifiers import DeliveryOutcome, Dispatcher, Outbox, build_notifier, check_template
from rules.alert import Alert
from rules.model import Record
from rules.rule import Rule
from rules.state import Observation
from watcher.checkpoint import Checkpoint, Checkpointer, LocalCheckpoints, newest
from watcher.config import Config, notifier_defaults
from watcher.health import Health
from watcher.jobs import Watchdog, build_scheduler
from watcher.metrics import Metrics

log = logging.getLogger("kea.wiring")

#: Rendered for the daily digest on every platform (a template override, like a rule's).
DIGEST_TEMPLATE = (
    "【日报】{{ alert.cluster }} 告警汇总 / daily digest\n"
    "新告警 {{ fields.incidents }} · 已恢复 {{ fields.resolved }} · 发送失败 {{ fields.failed_deliveries }}\n"
    "{% for rule, n in fields.by_rule.items() %}- {{ rule }}: {{ n }}\n{% endfor %}"
    "{% if fields.by_namespace %}项目: {% for ns, n in fields.by_namespace.items() %}{{ ns }} {{ n }}  {% endfor %}\n{% endif %}"
    "Warning 事件 {{ fields.warning_events }}{% for r in fields.top_warning_reasons %} · {{ r.reason }} {{ r.count }}{% endfor %}\n"
)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def rule_problems(rules: Iterable[Rule], cfg: Config) -> list[str]:
    """Checks that need the config: notifier names in `notify` and the rules' templates."""
    problems = []
    for rule in rules:
        for name in rule.notify:
            if name not in cfg.notifiers:
                problems.append(f"{rule.origin}: rule `{rule.name}` notifies unknown notifier `{name}` "
                                f"(defined: {', '.join(cfg.notifiers) or 'none'})")
        for target, text in rule.templates.items():
            error = check_template(text)
            if error:
                problems.append(f"{rule.origin}: rule `{rule.name}` template for `{target}`: {error}")
    return problems



class Components:
    def __init__(self, cfg: Config, *, metrics: Metrics, health: Health, stop: threading.Event) -> None:
        self.cfg, self.metrics, self.health, self.stop = cfg, metrics, health, stop
        self.secrets: set[str] = set()
        data = Path(cfg.data_dir)
        defaults = notifier_defaults(cfg)
        self.notifiers = {name: build_notifier(name, raw, defaults=defaults) for name, raw in cfg.notifiers.items()}
        for n in self.notifiers.values():
            self.secrets.update(n.settings.secrets())
        self.outbox = Outbox(data / "outbox", max_entries=cfg.outbox.max_entries)
        self.dispatcher = Dispatcher(self.notifiers, default_route=cfg.routing.default, outbox=self.outbox,
                                     clock=utcnow, on_outcome=self._on_outcome)
        self._recent: OrderedDict[str, Alert] = OrderedDict()
        self._last_confirmed: Optional[float] = None
        self.es = self.sink = self.history = None
        self.local_checkpoints = LocalCheckpoints(data)
        self.es_checkpoints: Any = None
        if cfg.elasticsearch.enabled:
            self._build_es(data)
        self.local_history = self._local_history(data) if not cfg.elasticsearch.enabled else None
        self.sources: list[Any] = []
        # Not ready until the sources say so: the status server starts before they do, and a
        # readiness check that does not exist yet must not read as ready.
        self.health.readiness["sources"] = lambda: (False, "starting")
        self._api_reachable: Callable[[], bool] = lambda: True
        self.elector: Any = None
        self.scheduler: Any = None

    # -- Elasticsearch -------------------------------------------------------------------------

    def _build_es(self, data: Path) -> None:
        from watcher.es import AlertHistory, EsSink, build_client

        es = self.cfg.elasticsearch
        self.es = build_client(es)
        self.sink = EsSink(self.es, prefix=es.index_prefix, spool_dir=data / "spool", spool_max_bytes=es.spool_max_bytes,
                           chunk_size=es.bulk.chunk_size, max_chunk_bytes=es.bulk.max_chunk_bytes,
                           flush_interval=es.bulk.flush_interval.total_seconds(), on_stat=self.metrics.on_stat,
                           retention_days=es.retention_days)
        self.history = AlertHistory(self.es, prefix=es.index_prefix, sink=self.sink)
        from watcher.es.checkpoint import EsCheckpoints

        self.es_checkpoints = EsCheckpoints(self.es, prefix=es.index_prefix)
        self.sink.install_templates()
        self.health.readiness["elasticsearch"] = self._es_ready

    def _local_history(self, data: Path) -> Any:
        """The SQLite history (watcher/search) when there is no Elasticsearch; None if it is
        switched off or cannot be opened (logged: the daemon alerts without it)."""
        h = self.cfg.local_history
        if not h.enabled:
            return None
        from watcher.search.sqlite_store import FILE_NAME, SqliteHistory

        try:
            return SqliteHistory(data / FILE_NAME, prefix=self.cfg.elasticsearch.index_prefix,
                                 retention_days=h.retention_days, max_bytes=h.max_bytes,
                                 flush_interval=h.flush_interval.total_seconds(), on_stat=self.metrics.on_stat)
        except Exception as exc:
            log.error("local history %s cannot be opened (%s: %s); running without it",
                      data / FILE_NAME, type(exc).__name__, exc)
            return None

    def record_handlers(self) -> list[Callable[[Record, Optional[Observation]], None]]:
        """The pipeline's record handlers besides the rules: the ES sink, or the SQLite history."""
        return [self.on_record] + ([self.local_history.put] if self.local_history is not None else [])

    def _es_ready(self) -> tuple[bool, str]:
        st = self.sink.status()
        ok = st["reachable"] or st["spool_ok"]
        return ok, ("reachable" if st["reachable"] else f"spooling ({st['spooled_bytes']} bytes)")

    def open_incidents(self) -> list[Alert]:
        if self.history is None:
            return []
        # Alert-history documents still in the spool after an outage must reach ES first, or a
        # restored state would miss them and re-send (start() is idempotent).
        self.sink.start()
        self.sink.flush(15.0)
        try:
            return self.history.open_incidents(self.cfg.cluster)
        except Exception as exc:  # ES down at start: start anyway, with empty state
            log.warning("could not restore open incidents from Elasticsearch (%s); starting without them",
                        exc.__class__.__name__)
            return []

    def delivered_ids(self, since: datetime) -> set[str]:
        if self.history is None:
            return set()
        return self.history.delivered_ids(since, cluster=self.cfg.cluster)

    def on_record(self, record: Record, observation: Optional[Observation]) -> None:
        """The Elasticsearch sink's handler of each record (the pipeline calls it after the
        rules, behind its own error boundary)."""
        if self.sink is not None:
            self.sink.put(record, observation)

    # -- checkpoint ----------------------------------------------------------------------------

    def load_checkpoint(self) -> Optional[Checkpoint]:
        """The newest checkpoint: the local file, or Elasticsearch's when that is newer (a
        replica on a new node). Call after `open_incidents` (which drains the spool)."""
        local = self.local_checkpoints.load(self.cfg.cluster)
        remote = self.es_checkpoints.load(self.cfg.cluster) if self.es_checkpoints is not None else None
        return newest(local, remote)

    def checkpointer(self, *, boundary: datetime, complete: bool, is_leader: Callable[[], bool]) -> Checkpointer:
        return Checkpointer(self.local_checkpoints, cluster=self.cfg.cluster, boundary=boundary, complete=complete,
                            watching=self.watching, remote=self.es_checkpoints, is_leader=is_leader)

    def watching(self) -> bool:
        """Every cluster watcher has listed and is streaming (a replay never is)."""
        return bool(self.sources) and all(getattr(w, "watching", False) for w in self.sources)

    def all_listed(self) -> bool:
        return bool(self.sources) and all(w.listed.is_set() for w in self.sources if hasattr(w, "listed"))

    # -- delivery ------------------------------------------------------------------------------

    def submit(self, alert: Alert) -> None:
        if not (alert.notify or self.cfg.routing.default):
            # Nothing is dropped silently: an alert with nowhere to go is logged and counted.
            log.warning("alert %s (%s) has no notifier: the rule has no `notify` and routing.default is empty: %s",
                        alert.id, alert.status, alert.summary)
            self.metrics.record_delivery("", "", "unrouted")
            return
        self._recent[alert.id] = alert
        while len(self._recent) > 50_000:
            self._recent.popitem(last=False)
        self.dispatcher.submit(alert)
        self.metrics.outbox_pending.set(self.dispatcher.pending())

    def _on_outcome(self, outcome: DeliveryOutcome) -> None:
        """Runs on a delivery thread: only cheap, non-blocking work (the sink queues)."""
        self.metrics.record_delivery(outcome.notifier, outcome.platform, outcome.result, outcome.code)
        if outcome.result == "sent":
            self._last_confirmed = time.monotonic()
        self.metrics.outbox_pending.set(self.dispatcher.pending())
        if self.history is None or outcome.result not in ("sent", "failed", "dropped"):
            return
        for alert_id in outcome.alert_ids:
            alert = self._recent.get(alert_id)
            if alert is not None:
                self.sink.put_docs([self.history.doc(alert, notifier=outcome.notifier, result=outcome.result,
                                                     code=outcome.code, detail=outcome.detail)])

    def start_delivery(self) -> None:
        self.dispatcher.start()
        if self.sink is not None:
            self.sink.start()
        if self.local_history is not None:
            self.local_history.start()

    def stop_delivery(self, deadline: float) -> int:
        start = time.monotonic()
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
        left = self.dispatcher.stop(deadline_seconds=max(1.0, deadline / 2))
        if self.sink is not None:
            self.sink.stop(deadline_seconds=max(1.0, deadline - (time.monotonic() - start)))
        if self.local_history is not None:
            self.local_history.stop(max(1.0, deadline - (time.monotonic() - start)))
        return left

    # -- sources and leadership ----------------------------------------------------------------

    def start_sources(self, put: Callable[[Record], None], replay_files: Optional[Sequence[str]], *, leader,
                      replay_clock: Any = None, drain: Callable[[float], bool] = lambda timeout: True) -> None:
        if replay_files:
            from watcher.sources import ReplaySource

            source = ReplaySource(replay_files, cluster=self.cfg.cluster, sink=put, stop=self.stop,
                                  on_skip=lambda reason: self.metrics.records_skipped.labels(reason).inc(),
                                  clock=replay_clock, drain=drain)
            self.sources.append(source)
            self.health.readiness["sources"] = lambda: (True, "replay")
            leader.became_leader(None)
            self.metrics.leader.set(1)
            source.start()
            return
        self._start_kube(put, leader)

    def _start_kube(self, put: Callable[[Record], None], leader) -> None:
        from watcher import kube

        k = self.cfg.kubernetes
        api = kube.build_api_client(k)
        self.sources = kube.sources_for(k, api, cluster=self.cfg.cluster, sink=put, stop=self.stop,
                                        on_stat=self.metrics.on_stat)
        for w in self.sources:
            self.metrics.watch_age(w.name, lambda w=w: w.last_event_monotonic)
            self.health.liveness[f"watch/{w.name}"] = lambda w=w: (w.is_alive(), "")
        self._api_reachable = lambda: _api_answers(api)
        self.health.readiness["sources"] = lambda: (all(w.listed.is_set() for w in self.sources),
                                                    f"{sum(w.listed.is_set() for w in self.sources)}/{len(self.sources)} listed")
        for w in self.sources:
            w.start()
        le = k.leader_election
        if not le.enabled:
            leader.became_leader(None)
            self.metrics.leader.set(1)
            return
        identity = le.identity or os.environ.get("POD_NAME") or socket.gethostname()
        self.elector = kube.LeaderElector(api, le, identity=identity, stop=self.stop, on_stat=self.metrics.on_stat,
                                          on_started_leading=lambda previous: leader.became_leader(previous),
                                          on_stopped_leading=leader.lost_leadership)
        self.elector.start()

    def stop_sources(self) -> None:
        self.stop.set()
        for s in self.sources:
            join = getattr(s, "join", None)
            if join:
                join(5.0)
        if self.elector is not None:
            self.elector.release()

    # -- scheduler -----------------------------------------------------------------------------

    def start_scheduler(self, router) -> None:
        jobs: dict[str, Callable[[], None]] = {"watchdog": self._watchdog_job(router)}
        if self.es is not None:
            from watcher.es import delete_old_indices

            es = self.cfg.elasticsearch
            jobs["retention"] = lambda: delete_old_indices(self.es, es.index_prefix, es.retention_days, utcnow())
            jobs["digest"] = lambda: router(self.digest_alert(utcnow()))
        elif self.local_history is not None:
            jobs["retention"] = lambda: self.local_history.prune(utcnow())
        self.scheduler = build_scheduler(self.cfg.scheduler, self.cfg.timezone, jobs)
        self.scheduler.start()

    def _watchdog_job(self, router) -> Callable[[], None]:
        watchers = {w.name: (lambda w=w: w.last_event_monotonic) for w in self.sources if hasattr(w, "spec")}
        dog = Watchdog(cluster=self.cfg.cluster, silence=self.cfg.scheduler.watchdog_silence, watchers=watchers,
                       api_reachable=lambda: self._api_reachable(), outbox_pending=self.dispatcher.pending,
                       last_confirmed=lambda: self._last_confirmed)

        def run() -> None:
            for alert in dog.check(utcnow()):
                router(alert)

        return run

    def digest_alert(self, now: datetime) -> Alert:
        return digest_alert(self.cfg.cluster, self.history.digest(self.cfg.cluster, now - timedelta(days=1), until=now), now)


def digest_alert(cluster: str, summary: dict, now: datetime) -> Alert:
    """The daily digest as an alert the notifiers can render (with a template override)."""
    templates = {platform: DIGEST_TEMPLATE for platform in ("wecom", "dingtalk", "feishu", "webhook")}
    return Alert(rule="kea-daily-digest", key=now.strftime("%Y-%m-%d"), status="firing", severity="info",
                 sequence=1, started_at=now, at=now, count=summary.get("incidents", 0), cluster=cluster,
                 namespace="", kind="Digest", name="daily", workload_kind="", workload_name="",
                 summary=f"{summary.get('incidents', 0)} new alerts in the last 24h", fields=summary,
                 templates=templates, incident=now.strftime("%Y%m%d"))


def _api_answers(api: Any) -> bool:
    """For the watchdog: a silent watcher is a problem only while the API itself answers."""
    from watcher import kube

    try:
        kube.Transport(api).json("GET", "/version", timeout=5.0)
        return True
    except kube.KubeError:
        return False


def build_components(cfg: Config, *, metrics: Metrics, health: Health, stop: threading.Event) -> Components:
    return Components(cfg, metrics=metrics, health=health, stop=stop)
