"""Which watchers a config asks for: resources × namespaces, and which endpoint API to use.

`endpoints: auto` picks EndpointSlices where discovery.k8s.io/v1 is served (GA since 1.21;
core/v1 Endpoints are deprecated since 1.33, KEP-4974) and core/v1 Endpoints elsewhere —
never both, they describe the same addresses.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import replace
from typing import Any, Callable, Optional

from rules.model import Record
from watcher.kube.client import Backoff, KubeError, NotFound, Transport
from watcher.kube.resources import ENDPOINT_SLICES, ENDPOINTS, EVENTS, PODS, ResourceSpec
from watcher.kube.stats import NO_WATCH_STATS, WatchStats
from watcher.kube.watching import Watcher

log = logging.getLogger("kea.kube")

#: Discovery attempts before `auto` falls back to EndpointSlices (the API every supported
#: cluster serves; the watcher then keeps retrying on its own).
DISCOVERY_ATTEMPTS = 3


def endpoint_spec(mode: str, api_client: Any, *, sleep: Callable[[float], Any] = threading.Event().wait) -> ResourceSpec:
    if mode == "endpointslices":
        return ENDPOINT_SLICES
    if mode == "endpoints":
        return ENDPOINTS
    transport, backoff = Transport(api_client), Backoff(maximum=5.0)
    for attempt in range(DISCOVERY_ATTEMPTS):
        try:
            resources = transport.json("GET", "/apis/discovery.k8s.io/v1", timeout=10.0).get("resources") or []
        except NotFound:
            log.info("discovery.k8s.io/v1 is not served: watching core/v1 Endpoints")
            return ENDPOINTS
        except KubeError as exc:
            log.warning("API discovery failed (%s)%s", exc, "; retrying" if attempt + 1 < DISCOVERY_ATTEMPTS else "")
            if attempt + 1 < DISCOVERY_ATTEMPTS:
                sleep(backoff.next(exc.retry_after))
            continue
        if any(isinstance(r, dict) and r.get("name") == "endpointslices" for r in resources):
            return ENDPOINT_SLICES
        log.info("discovery.k8s.io/v1 serves no endpointslices: watching core/v1 Endpoints")
        return ENDPOINTS
    log.warning("API discovery unavailable: assuming EndpointSlices (served by every supported version)")
    return ENDPOINT_SLICES


def sources_for(cfg: Any, api_client: Any, *, cluster: str, sink: Callable[[Record], None],
                stop: threading.Event, stats: WatchStats = NO_WATCH_STATS) -> list[Watcher]:
    """One (not yet started) `Watcher` per enabled resource and configured namespace
    (cluster-wide when `cfg.namespaces` is empty). `cfg`: `watcher.config.Kubernetes`."""
    specs: list[ResourceSpec] = []
    # Field selectors are evaluated by the apiserver: `type!=Normal` on Events cuts the
    # stream (and the Elasticsearch history) to what can alert.
    if cfg.events:
        specs.append(replace(EVENTS, field_selector=cfg.event_field_selector))
    if cfg.pods:
        specs.append(replace(PODS, field_selector=cfg.pod_field_selector))
    specs.append(endpoint_spec(cfg.endpoints, api_client, sleep=stop.wait))
    namespaces: list[Optional[str]] = list(dict.fromkeys(cfg.namespaces)) or [None]
    return [
        Watcher(api_client, spec, namespace=ns, cluster=cluster, sink=sink, stop=stop,
                watch_timeout=cfg.watch_timeout.total_seconds(), request_timeout=cfg.request_timeout.total_seconds(),
                label_selector=cfg.label_selector, stats=stats)
        for spec in specs for ns in namespaces
    ]
