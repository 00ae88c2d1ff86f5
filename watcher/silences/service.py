"""The daemon's silences piece: which store (Elasticsearch when it is enabled, else the file in
data_dir), its refresh started and stopped with the daemon, and the snapshot provider the
dispatcher's silence stage calls."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

from notifiers.silences import Silences
from watcher.config import Config
from watcher.health import App, Check

from .store import NO_STATS, SilenceStats, SilenceStore

log = logging.getLogger("kea.silences")

CACHE_FILE = "silences-cache.json"
"""The Elasticsearch store's last silences, for a start while Elasticsearch is down."""


def open_store(cfg: Config, *, es_client: Any = None, stats: SilenceStats = NO_STATS) -> SilenceStore:
    """The configured store (nothing started). `es_client`: the daemon's client, reused."""
    if cfg.elasticsearch.enabled:
        from watcher.es import build_client

        from .esstore import EsSilenceStore

        client = es_client if es_client is not None else build_client(cfg.elasticsearch)
        return EsSilenceStore(client, prefix=cfg.elasticsearch.index_prefix, stats=stats,
                              refresh_interval=cfg.silences.refresh_interval.total_seconds(),
                              cache=Path(cfg.data_dir) / CACHE_FILE)
    from .filestore import FileSilenceStore

    return FileSilenceStore(cfg.data_dir, stats=stats)


def build_silences(cfg: Config, *, es_client: Any = None, stats: Any = None) -> "SilencesService":
    """The daemon's silences: the store, and the HTTP apps for the status port. `stats`: a
    `watcher.silences.metrics.SilenceMetrics` (`Metrics.silence_stats`)."""
    if not cfg.silences.enabled:
        return SilencesService(None)
    store = open_store(cfg, es_client=es_client, stats=stats if stats is not None else NO_STATS)
    from .api import SilencesApi

    record = stats.request if stats is not None else (lambda route, code: None)
    apps: list[App] = [SilencesApi(store, token=cfg.api.token, on_request=record)]
    if cfg.routing.external_url and cfg.routing.silence_link_secret:
        from .page import SilenceLinkPage

        apps.append(SilenceLinkPage(store, secret=cfg.routing.silence_link_secret, language=cfg.language,
                                    timezone=cfg.timezone, on_request=record))
    return SilencesService(store, apps=apps)


class SilencesService:
    name = "silences"

    def __init__(self, store: Optional[SilenceStore], *, apps: Sequence[App] = ()) -> None:
        """`store` None: silences are switched off (`silences.enabled: false`)."""
        self.store, self.apps = store, list(apps)

    @property
    def provider(self) -> Optional[Callable[[], Silences]]:
        """What the dispatcher calls at each due entry; None when silences are off."""
        return self.store.snapshot if self.store is not None else None

    def start(self) -> None:
        start = getattr(self.store, "start", None)  # the Elasticsearch store refreshes on a thread
        if start is not None:
            start()
        if self.store is not None:
            log.info("silences: %d in the %s store", len(self.store.snapshot()), self.store.name)

    def stop(self, deadline: float) -> None:
        if self.store is not None:
            self.store.close()

    def checks(self) -> Mapping[str, Check]:
        return {}
