"""Everything that talks to the Kubernetes API: the list → watch loop per resource, and the
Lease loop that makes one replica the sender.

Sub-modules: `client` (the HTTP seam, error kinds, backoff), `stream` (watch-line parser),
`resources` (what to watch, as data; what to remember per object), `watching` (the loop),
`sources` (which watchers a config asks for), `lease` (leader election).

Metrics go through `on_stat(name, value, labels)`; the names are:

- `watch_events{resource,type}` (+1): a watch event received; type ADDED / MODIFIED /
  DELETED / BOOKMARK.
- `watch_relists{resource,reason}` (+1): the watcher will list again; reason `expired`
  (410 Gone), `empty_stream` (200 with an empty body), `repeated_errors`.
- `watch_reconnects{resource,reason}` (+1): a failed list/watch, retried after backoff;
  reason `connection`, `timeout`, `protocol`, `tls`, `torn`, `bad_json`, `throttled` (429),
  `http_<code>`, `stream_error_<code>`, `not_found`, `internal_error`.
- `records_skipped{reason}` (+1): an object the normaliser rejected (its reason), or
  `no_uid`, `bad_watch_type`.
- `watch_last_event_timestamp{resource}` (gauge): Unix time of the last list or event.
- `leader` (gauge): 1 while this replica holds the Lease, else 0.
"""
from watcher.kube.client import (Backoff, Conflict, Gone, KubeError, NotFound, Rejected, Transport,
                                 Unavailable, build_api_client)
from watcher.kube.lease import LeaderElector, pod_namespace
from watcher.kube.resources import ENDPOINT_SLICES, ENDPOINTS, EVENTS, PODS, SPECS, KnownObjects, ResourceSpec
from watcher.kube.sources import endpoint_spec, sources_for
from watcher.kube.watching import Watcher

__all__ = [
    "Backoff", "Conflict", "ENDPOINTS", "ENDPOINT_SLICES", "EVENTS", "Gone", "KnownObjects", "KubeError",
    "LeaderElector", "NotFound", "PODS", "Rejected", "ResourceSpec", "SPECS", "Transport", "Unavailable",
    "Watcher", "build_api_client", "endpoint_spec", "pod_namespace", "sources_for",
]
