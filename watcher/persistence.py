"""Where the daemon's memory lives: the checkpoint (always, in data_dir) and, when Elasticsearch
is enabled, the sink for documents, the alert history and the checkpoint's copy in ES.

Record handlers for the pipeline (`record_handlers`), the memory read at start-up (`open_incidents`,
`load_checkpoint`, `delivered_ids`) and the delivery outcomes' history documents (`record`).
"""
from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

from notifiers import DeliveryOutcome
from rules.alert import Alert
from rules.model import Record
from rules.state import Observation
from watcher.checkpoint import Checkpoint, Checkpointer, LocalCheckpoints, newest
from watcher.config import Config
from watcher.es.stats import NO_SINK_STATS, SinkStats
from watcher.search.stats import NO_HISTORY_STATS, HistoryStats
from watcher.health import Check
from watcher.service import remaining

log = logging.getLogger("kea.persistence")

_RECORDED = ("sent", "failed", "dropped", "silenced", "inhibited", "skipped")
"""Outcomes that settle a delivery, so the alert history has them (with the silence id or the
inhibiting alert id in `code`); retries, pauses and deferrals are not settled."""

#: At start-up, how long to let the spool drain into Elasticsearch before reading the history.
SPOOL_FLUSH_SECONDS = 15.0


class Persistence:
    name = "persistence"

    def __init__(self, cfg: Config, *, stats: SinkStats = NO_SINK_STATS,
                 history_stats: HistoryStats = NO_HISTORY_STATS) -> None:
        self.cfg = cfg
        data = Path(cfg.data_dir)
        self.local_checkpoints = LocalCheckpoints(data)
        self.es: Any = None
        self.sink: Any = None
        self.history: Any = None
        self.es_checkpoints: Any = None
        self.local_history: Any = None
        if cfg.elasticsearch.enabled:
            self._build_es(data, stats)
        else:
            self.local_history = _local_history(cfg, data, history_stats)

    def _build_es(self, data: Path, stats: SinkStats) -> None:
        from watcher.es import AlertHistory, EsSink, build_client
        from watcher.es.checkpoint import EsCheckpoints

        es = self.cfg.elasticsearch
        self.es = build_client(es)
        self.sink = EsSink(self.es, prefix=es.index_prefix, spool_dir=data / "spool", spool_max_bytes=es.spool_max_bytes,
                           chunk_size=es.bulk.chunk_size, max_chunk_bytes=es.bulk.max_chunk_bytes,
                           flush_interval=es.bulk.flush_interval.total_seconds(), stats=stats,
                           retention_days=es.retention_days)
        self.history = AlertHistory(self.es, prefix=es.index_prefix, sink=self.sink)
        self.es_checkpoints = EsCheckpoints(self.es, prefix=es.index_prefix)
        self.sink.install_templates()

    # -- the service --------------------------------------------------------------------------

    def start(self) -> None:
        if self.sink is not None:
            self.sink.start()  # idempotent: open_incidents may have started it already
        if self.local_history is not None:
            self.local_history.start()

    def stop(self, deadline: float) -> None:
        if self.es_checkpoints is not None:
            self.es_checkpoints.stop(remaining(deadline, at_least=1.0))
        if self.sink is not None:
            self.sink.stop(deadline_seconds=remaining(deadline, at_least=1.0))
        if self.local_history is not None:
            self.local_history.stop(remaining(deadline, at_least=1.0))

    def checks(self) -> Mapping[str, Check]:
        return {"elasticsearch": self._es_ready} if self.sink is not None else {}

    def _es_ready(self) -> tuple[bool, str]:
        st = self.sink.status()
        ok = st["reachable"] or st["spool_ok"]
        return ok, ("reachable" if st["reachable"] else f"spooling ({st['spooled_bytes']} bytes)")

    # -- what the pipeline and the notify path hand over ------------------------------------

    def record_handlers(self) -> list[Callable[[Record, Optional[Observation]], None]]:
        """The pipeline's record handlers besides the rules: the Elasticsearch sink, or the
        SQLite history when there is no Elasticsearch (each behind its own error boundary)."""
        if self.sink is not None:
            return [self.sink.put]
        return [self.local_history.put] if self.local_history is not None else []

    def record(self, outcome: DeliveryOutcome) -> None:
        """The history documents of a settled delivery (the last step of the notify path). Runs
        on a delivery thread: the sink only queues."""
        if self.history is None or outcome.result not in _RECORDED or outcome.code == "delivered_elsewhere":
            return  # (the previous leader recorded those as sent: this must not overwrite that)
        # On disk before this returns: the outbox has just forgotten these entries, and a kill -9
        # now must not lose the only record that they were delivered.
        self.sink.put_durable([self.history.doc(alert, notifier=outcome.notifier, result=outcome.result,
                                                code=outcome.code, detail=outcome.detail) for alert in outcome.alerts])

    # -- memory read at start-up and on takeover ----------------------------------------------

    def open_incidents(self) -> list[Alert]:
        if self.history is None:
            return []
        # Alert-history documents still in the spool after an outage must reach ES first, or a
        # restored state would miss them and re-send (start() is idempotent).
        self.sink.start()
        self.sink.flush(SPOOL_FLUSH_SECONDS)
        try:
            return list(self.history.open_incidents(self.cfg.cluster))
        except Exception as exc:  # ES down at start: start anyway, with the local checkpoint
            log.warning("could not restore open incidents from Elasticsearch (%s); starting without them",
                        exc.__class__.__name__)
            return []

    def load_checkpoint(self) -> Optional[Checkpoint]:
        """The newest checkpoint: the local file, or Elasticsearch's when that is newer (a
        replica on a new node). Call after `open_incidents` (which drains the spool)."""
        local = self.local_checkpoints.load(self.cfg.cluster)
        remote = self.es_checkpoints.load(self.cfg.cluster) if self.es_checkpoints is not None else None
        return newest(local, remote)

    def checkpointer(self, *, boundary: datetime, complete: bool, watching: Callable[[], bool],
                     is_leader: Callable[[], bool]) -> Checkpointer:
        return Checkpointer(self.local_checkpoints, cluster=self.cfg.cluster, boundary=boundary, complete=complete,
                            watching=watching, remote=self.es_checkpoints, is_leader=is_leader)

    def delivered_ids(self, since: datetime) -> set[str]:
        """Outbox entry ids (`notifier|alert id`) the alert history has as sent since `since`."""
        if self.history is None:
            return set()
        out = set()
        for delivery_id in self.history.delivered_ids(since, cluster=self.cfg.cluster, per_notifier=True):
            alert_id, _, notifier = delivery_id.rpartition("|")
            out.add(f"{notifier}|{alert_id}")
        return out


def _local_history(cfg: Config, data: Path, stats: HistoryStats) -> Any:
    """The SQLite history (watcher/search) when there is no Elasticsearch; None if it is
    switched off or cannot be opened (logged: the daemon alerts without it)."""
    h = cfg.local_history
    if not h.enabled:
        return None
    from watcher.search.sqlite_store import FILE_NAME, SqliteHistory

    try:
        return SqliteHistory(data / FILE_NAME, prefix=cfg.elasticsearch.index_prefix, retention_days=h.retention_days,
                             max_bytes=h.max_bytes, flush_interval=h.flush_interval.total_seconds(), stats=stats)
    except Exception as exc:
        log.error("local history %s cannot be opened (%s: %s); running without it",
                  data / FILE_NAME, type(exc).__name__, exc)
        return None
