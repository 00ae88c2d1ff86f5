"""Elasticsearch persistence: Events, endpoint-health changes, container terminations and the
alert history, written idempotently in bulk with an on-disk spool for outages.

Modules: `client` (build the client from config), `templates` (index names, aliases, mappings),
`doc` / `documents` / `endpoints` (records → documents, pure), `bulk` (one batch, retries,
per-item outcomes), `spool` (durable on-disk queue), `sink` (the writer thread tying them
together), `history` (alert history and state restore), `retention` (delete old daily indices),
`stats` (the typed `SinkStats` they all report through; `watcher.metrics` implements it).
"""
from watcher.es.client import EsConfigError, build_client, describe
from watcher.es.doc import Doc
from watcher.es.documents import Documenter, event_doc, termination_docs
from watcher.es.endpoints import EndpointHealth
from watcher.es.history import AlertHistory
from watcher.es.retention import add_retention_job, delete_old_indices
from watcher.es.sink import EsSink
from watcher.es.spool import Spool
from watcher.es.stats import NO_SINK_STATS, SinkStats
from watcher.es.templates import alerts_index, alias, daily_index, install_templates

__all__ = [
    "AlertHistory", "Doc", "Documenter", "EndpointHealth", "EsConfigError", "EsSink", "NO_SINK_STATS",
    "SinkStats", "Spool", "add_retention_job", "alerts_index", "alias", "build_client", "daily_index",
    "delete_old_indices", "describe", "event_doc", "install_templates", "termination_docs",
]
