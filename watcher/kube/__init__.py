"""Everything that talks to the Kubernetes API: the list → watch loop per resource, and the
Lease loop that makes one replica the sender.

Sub-modules: `client` (the HTTP seam, error kinds, backoff), `stream` (watch-line parser),
`resources` (what to watch, as data; what to remember per object), `watching` (the loop),
`sources` (which watchers a config asks for), `lease` (leader election).

Metrics go through the typed protocols in `stats` (`WatchStats` for the watchers,
`LeaseStats` for the Lease loop), which `watcher.metrics` implements; `NO_WATCH_STATS` and
`NO_LEASE_STATS` ignore every report.
"""
from watcher.kube.client import (Backoff, Conflict, Gone, KubeError, NotFound, Rejected, Transport,
                                 Unavailable, build_api_client)
from watcher.kube.lease import LeaderElector, pod_namespace
from watcher.kube.resources import ENDPOINT_SLICES, ENDPOINTS, EVENTS, PODS, SPECS, KnownObjects, ResourceSpec
from watcher.kube.sources import endpoint_spec, sources_for
from watcher.kube.stats import NO_LEASE_STATS, NO_WATCH_STATS, LeaseStats, WatchStats
from watcher.kube.watching import Watcher

__all__ = [
    "Backoff", "Conflict", "ENDPOINTS", "ENDPOINT_SLICES", "EVENTS", "Gone", "KnownObjects", "KubeError",
    "LeaderElector", "LeaseStats", "NO_LEASE_STATS", "NO_WATCH_STATS", "NotFound", "PODS", "Rejected",
    "ResourceSpec", "SPECS", "Transport", "Unavailable", "WatchStats", "Watcher", "build_api_client",
    "endpoint_spec", "pod_namespace", "sources_for",
]
