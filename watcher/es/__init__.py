"""Elasticsearch persistence: Events, endpoint-health changes, container terminations and the
alert history, written idempotently in bulk with an on-disk spool for outages.

Modules: `client` (build the client from config), `templates` (index names, aliases, mappings),
`doc` / `documents` / `endpoints` (records → documents, pure), `bulk` (one batch, retries,
per-item outcomes), `spool` (durable on-disk queue), `sink` (the writer thread tying them
together), `history` (alert history and state restore), `retention` (delete old daily indices),
`stats` (the typed `SinkStats` they all report through; `watcher.metrics` implements it).
"""
import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the real names for type checkers; at run time see __getattr__
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

#: Each public name and the module it lives in. Imported on first use (PEP 562), so a daemon
#: or CLI run without Elasticsearch never imports the client library (and its aiohttp),
#: a sixth of the start-up: the documents and the local history need only the pure modules.
_WHERE = {
    "EsConfigError": "client", "build_client": "client", "describe": "client",
    "Doc": "doc",
    "Documenter": "documents", "event_doc": "documents", "termination_docs": "documents",
    "EndpointHealth": "endpoints",
    "AlertHistory": "history",
    "add_retention_job": "retention", "delete_old_indices": "retention",
    "EsSink": "sink",
    "Spool": "spool",
    "NO_SINK_STATS": "stats", "SinkStats": "stats",
    "alerts_index": "templates", "alias": "templates", "daily_index": "templates",
    "install_templates": "templates",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'watcher.es' has no attribute {name!r}")
    return getattr(importlib.import_module(f"watcher.es.{module}"), name)
