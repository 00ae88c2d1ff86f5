"""The normalised record: one value per watched object change, never changed once built.

The watcher builds a `Record` from the API's JSON dict once per watch event; rules, the
Elasticsearch sink and templates read only this, never raw dicts. It carries what rules and
messages need and nothing else, so the engine's memory stays small.

The types are values, but not `frozen`: a frozen dataclass sets every field through
`object.__setattr__`, and building a Record with its EventInfo or containers that way cost
~2.6 µs of the ~9 µs normalise takes per record (`bench/rules_parts.py`). Nothing assigns to
a field after `watcher.normalize` built it (`tests/rules/test_values.py` runs the engine on
records that refuse assignment); `dataclasses.replace` makes a changed copy. `unsafe_hash`
keeps the hash the frozen types had (fields never change, so it is safe).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Mapping, Optional

SourceKind = Literal["Event", "Pod", "EndpointSlice", "Endpoints"]
WatchType = Literal["ADDED", "MODIFIED", "DELETED"]

#: The rule `source` names and the record kinds each one reads.
SOURCE_KINDS: Mapping[str, tuple[str, ...]] = {
    "event": ("Event",),
    "pod": ("Pod",),
    "endpoints": ("EndpointSlice", "Endpoints"),
}


@dataclass(slots=True, unsafe_hash=True)
class EventInfo:
    """What a core/v1 Event says (events.k8s.io/v1 fields are mapped onto these)."""

    reason: str
    type: str
    """`Normal` or `Warning`."""
    message: str
    count: int
    """Occurrences so far; client-go's recorder PATCHes `count+1` on a repeat (MODIFIED)."""
    first_timestamp: Optional[datetime]
    last_timestamp: Optional[datetime]
    involved_kind: str
    involved_name: str
    involved_namespace: str
    involved_uid: str
    involved_field_path: str
    component: str
    """`reportingComponent`, else `source.component`."""
    host: str
    """`source.host`, the node for kubelet events."""


@dataclass(slots=True, unsafe_hash=True)
class Termination:
    """A container's `state.terminated` or `lastState.terminated`."""

    reason: str
    exit_code: Optional[int]
    signal: Optional[int]
    started_at: Optional[datetime]
    finished_at: Optional[datetime]
    container_id: str
    message: str


@dataclass(slots=True, unsafe_hash=True)
class ContainerInfo:
    name: str
    init: bool
    restart_count: int
    ready: bool
    state: str
    """`running`, `waiting`, `terminated` or `unknown`."""
    waiting_reason: str
    terminated: Optional[Termination]
    """Current termination (a `restartPolicy: Never` pod ends here)."""
    last_terminated: Optional[Termination]
    """`lastState.terminated`: where an OOMKilled restart shows."""
    memory_limit: str
    """`resources.limits.memory` from the pod spec, as written (`256Mi`), or ''."""
    ephemeral: bool = False
    """An ephemeral (`kubectl debug`) container, from `status.ephemeralContainerStatuses`."""


@dataclass(slots=True, unsafe_hash=True)
class PodInfo:
    phase: str
    node: str
    pod_ip: str
    host_ip: str
    containers: tuple[ContainerInfo, ...]


@dataclass(slots=True, unsafe_hash=True)
class EndpointAddress:
    ip: str
    ready: bool
    serving: bool
    terminating: bool
    node: str
    pod: str
    """`targetRef.name` when it points at a Pod."""


@dataclass(slots=True, unsafe_hash=True)
class EndpointsInfo:
    """One EndpointSlice's or one core/v1 Endpoints object's addresses.

    A Service has several slices; the rules engine sums them per service.
    """

    service: str
    addresses: tuple[EndpointAddress, ...]

    @property
    def ready(self) -> int:
        return sum(1 for a in self.addresses if a.ready and not a.terminating)

    @property
    def not_ready(self) -> int:
        return sum(1 for a in self.addresses if not a.ready and not a.terminating)

    @property
    def terminating(self) -> int:
        return sum(1 for a in self.addresses if a.terminating)


@dataclass(slots=True, unsafe_hash=True)
class Record:
    """One watched object change, normalised."""

    kind: SourceKind
    watch_type: WatchType
    cluster: str
    namespace: str
    name: str
    uid: str
    resource_version: str
    timestamp: Optional[datetime]
    """When the change happened, as the object tells it: an Event's last time, a Pod's newest
    container termination or start, an EndpointSlice's last-change-trigger-time. None when the
    object does not say; the caller's clock then stands in."""
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    """Annotations minus the bulky `kubectl.kubernetes.io/last-applied-configuration`."""
    workload_kind: str = ""
    workload_name: str = ""
    """The owning workload: ReplicaSet `web-5d9c7` owned Pods report Deployment `web`."""
    listed: bool = False
    """True when the record comes from a LIST (start-up or relist), not a watch event: it primes
    rule state and never fires by itself."""
    event: Optional[EventInfo] = None
    pod: Optional[PodInfo] = None
    endpoints: Optional[EndpointsInfo] = None

    @property
    def source(self) -> str:
        """The rule `source` this record feeds: `event`, `pod` or `endpoints`."""
        if self.kind == "Event":
            return "event"
        if self.kind == "Pod":
            return "pod"
        return "endpoints"

    @property
    def workload(self) -> str:
        """`Deployment/web`, or the object's own `Kind/name` when it has no owner."""
        if self.workload_name:
            return f"{self.workload_kind}/{self.workload_name}"
        return f"{self.kind}/{self.name}"

