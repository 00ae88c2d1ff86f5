"""`kube-event-alerter run`: check the rules, assemble the daemon (watcher/assembly.py), run it
until SIGTERM / SIGINT, stop it cleanly. SIGHUP reloads the rules.

On SIGTERM the services stop in reverse order within one deadline: the scheduler, the sources
(watchers end; the Lease is handed back after sending stops), the pipeline (drained; the
checkpoint saved), delivery (the outbox flushes what it can; the rest stays on disk for the next
start), persistence (the bulk queue flushes or spools), then the status server. Exit 0.
"""
from __future__ import annotations

import logging
import signal
import threading
from importlib.metadata import PackageNotFoundError, version
from typing import Sequence

from notifiers.clock import utcnow
from watcher.assembly import assemble
from watcher.config import Config
from watcher.gctune import freeze_startup_state, tune_gc
from watcher.logsetup import setup_logging
from watcher.metrics import Metrics
from watcher.validation import check_rules

log = logging.getLogger("kea.daemon")


def run_daemon(cfg: Config, *, replay_files: Sequence[str] | None = None) -> int:
    # The first boundary between history and news is this moment, not the end of a slow start-up
    # (templates, the spool, the history): an OOM during start-up is news. Object times have whole
    # seconds, and an OOM in the second of start-up is not history either.
    started = utcnow().replace(microsecond=0)
    setup_logging(cfg.logging.level, cfg.logging.format, cfg.secrets)
    log.info("starting: cluster=%s at %s", cfg.cluster, started.isoformat())
    tune_gc()
    stop, reload_requested = threading.Event(), threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, lambda *_: reload_requested.set())

    loaded = check_rules(cfg.rules.paths, builtins=cfg.rules.builtins, notifiers=cfg.notifiers,
                         packs=cfg.rules.packs)
    if loaded.problems:
        for p in loaded.problems:
            log.error("%s", p)
        return 1

    daemon = assemble(cfg, loaded.rules, stop=stop, started=started, metrics=Metrics(_version()),
                      replay_files=replay_files)
    daemon.start()
    log.info("started: cluster=%s rules=%d notifiers=%d elasticsearch=%s restored_incidents=%d",
             cfg.cluster, len(daemon.engine.rules), len(cfg.notifiers),
             "on" if cfg.elasticsearch.enabled else "off", daemon.restored)
    freeze_startup_state()
    daemon.run(stop, reload_requested)
    daemon.shutdown()
    return 0


def _version() -> str:
    try:
        return version("kube-event-alerter")
    except PackageNotFoundError:
        return "unknown"
