"""Where records come from: the cluster's watchers with the Lease loop, or a replay of recordings.

Leadership decides who sends: without leader election (or in a replay) this replica leads from
the start; otherwise the Lease loop tells the router when it starts and stops leading.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any, Callable, Mapping, Optional, Sequence

from rules.model import Record
from watcher.config import Config
from watcher.health import Check, Health
from watcher.metrics import Metrics
from watcher.service import remaining

log = logging.getLogger("kea.sources")

#: How long each watcher thread gets to end on shutdown.
WATCHER_JOIN_SECONDS = 5.0


class Sources:
    name = "sources"

    def __init__(self, cfg: Config, *, put: Callable[[Record], None], leader: Any, stop: threading.Event,
                 metrics: Metrics, health: Health, replay_files: Optional[Sequence[str]] = None,
                 replay_clock: Any = None, drain: Callable[[float], bool] = lambda timeout: True,
                 lease_annotations: Callable[[], dict[str, str]] = dict) -> None:
        """`leader`: the alert router (`became_leader` / `lost_leadership`); `put`: the
        pipeline's queue; `stop`: set to end the watchers."""
        self.cfg, self.put, self.leader, self.stop_event = cfg, put, leader, stop
        self.metrics, self.health = metrics, health
        self.replay_files, self.replay_clock, self.drain = replay_files, replay_clock, drain
        self.lease_annotations = lease_annotations
        self.sources: list[Any] = []
        self.elector: Any = None
        self.api_reachable: Callable[[], bool] = lambda: True

    # -- the service --------------------------------------------------------------------------

    def start(self) -> None:
        if self.replay_files:
            self._start_replay()
        else:
            self._start_kube()

    def stop(self, deadline: float) -> None:
        self.stop_event.set()
        for s in self.sources:
            join = getattr(s, "join", None)
            if join:
                join(min(WATCHER_JOIN_SECONDS, remaining(deadline, at_least=0.5)))
        if self.elector is not None:
            self.elector.release()  # stops sending first (on_stopped_leading), then hands the Lease back

    def checks(self) -> Mapping[str, Check]:
        return {"sources": self._ready}

    def _ready(self) -> tuple[bool, str]:
        if self.replay_files:
            return bool(self.sources), "replay"
        if not self.sources:
            return False, "starting"  # a check that has nothing to look at yet is not ready
        listed = sum(w.listed.is_set() for w in self.sources)
        return listed == len(self.sources), f"{listed}/{len(self.sources)} listed"

    # -- what others ask ------------------------------------------------------------------------

    def watching(self) -> bool:
        """Every cluster watcher has listed and is streaming (a replay never is)."""
        return bool(self.sources) and all(getattr(w, "watching", False) for w in self.sources)

    def endpoints_known(self) -> bool:
        """The endpoint watchers have all listed (none configured: no drop can come, so it is
        known that no pod backs a Service). False in a replay: there is no LIST to wait for."""
        if self.replay_files or not self.sources:
            return False
        return all(w.listed.is_set() for w in self.sources
                   if getattr(getattr(w, "spec", None), "kind", None) in ("EndpointSlice", "Endpoints"))

    def all_listed(self) -> bool:
        return bool(self.sources) and all(w.listed.is_set() for w in self.sources if hasattr(w, "listed"))

    def inherited_annotations(self) -> Optional[Mapping[str, str]]:
        return self.elector.inherited_annotations if self.elector is not None else None

    def watch_ages(self) -> dict[str, Callable[[], Optional[float]]]:
        """Monotonic time of each cluster watcher's newest event (the watchdog reads them)."""
        return {w.name: _last_event_of(w) for w in self.sources if hasattr(w, "spec")}

    # -- starting -------------------------------------------------------------------------------

    def _start_replay(self) -> None:
        from watcher.sources import ReplaySource

        source = ReplaySource(self.replay_files or (), cluster=self.cfg.cluster, sink=self.put, stop=self.stop_event,
                              on_skip=lambda reason: self.metrics.records_skipped.labels(reason).inc(),
                              clock=self.replay_clock, drain=self.drain)
        self.sources.append(source)
        self._lead_alone()
        source.start()

    def _start_kube(self) -> None:
        from watcher import kube

        k = self.cfg.kubernetes
        api = kube.build_api_client(k)
        self.sources = kube.sources_for(k, api, cluster=self.cfg.cluster, sink=self.put, stop=self.stop_event,
                                        stats=self.metrics.watch_stats)
        for w in self.sources:
            self.metrics.watch_age(w.name, _last_event_of(w))
            self.health.liveness[f"watch/{w.name}"] = _alive_check(w)
        self.api_reachable = lambda: _api_answers(api)
        for w in self.sources:
            w.start()
        le = k.leader_election
        if not le.enabled:
            self._lead_alone()
            return
        identity = le.identity or os.environ.get("POD_NAME") or socket.gethostname()
        self.elector = kube.LeaderElector(api, le, identity=identity, stop=self.stop_event, stats=self.metrics.lease_stats,
                                          on_started_leading=lambda previous: self.leader.became_leader(previous),
                                          on_stopped_leading=self.leader.lost_leadership,
                                          annotations=self.lease_annotations)
        self.elector.start()

    def _lead_alone(self) -> None:
        self.leader.became_leader(None)
        self.metrics.lease_stats.leader(True)


def _last_event_of(watcher: Any) -> Callable[[], Optional[float]]:
    """None until the watcher's first sign of life (its first LIST done): no age yet."""
    return lambda: watcher.last_event_monotonic


def _alive_check(watcher: Any) -> Check:
    return lambda: (bool(watcher.is_alive()), "")


def _api_answers(api: Any) -> bool:
    """For the watchdog: a silent watcher is a problem only while the API itself answers."""
    from watcher import kube

    try:
        kube.Transport(api).json("GET", "/version", timeout=5.0)
        return True
    except kube.KubeError:
        return False
