"""The cluster as the rules see it: derived facts kept once and updated once per record.

Several consumers need the same facts about the cluster, and used to compute them each on their
own: a Service's endpoints summed over its EndpointSlices (the `endpoints_unhealthy` detector and
the Elasticsearch endpoint-health documents), whether a container termination is new (the
`oom_killed` detector and the termination documents), an Event's occurrences since it was last
seen, node IPs and the last termination of a pod (the cause of an endpoint drop). `ClusterState`
holds them; `observe(record)` updates them and returns an `Observation` — what this record changed
— that every consumer of the record reads. Alerts and Kibana then agree by construction.

Pure: no clock, no I/O. Bounded: every table forgets its oldest entries past a limit.

`ServiceEndpoints`, `NewTermination` and `Observation` are values (one is shared by most
records) but not `frozen`, for the reason `rules.model` gives: one or two are built per record.
Nothing assigns to their fields once built (`tests/rules/test_values.py`).
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from datetime import datetime, timedelta
from typing import Any, Iterator, NamedTuple, Optional

from rules.model import ContainerInfo, EndpointAddress, Record, Termination

#: Bound on remembered Event counts (uid -> count); the oldest are forgotten first.
MAX_EVENTS = 200_000
#: Bound on containers whose terminations are remembered, and on pods kept for cause lookups.
MAX_CONTAINERS = 200_000
#: Terminations remembered per container: a crash-looping container repeats its last one in every
#: status update; older ones only need to be recognised while they can still appear.
SEEN_PER_CONTAINER = 16
#: A pod's termination explains an endpoint drop only if it happened this close to the drop.
CAUSE_WINDOW = timedelta(minutes=15)


@dataclass(slots=True, unsafe_hash=True)
class ServiceEndpoints:
    """A Service's endpoints across all its slices and address families: one entry per endpoint
    (a pod in an IPv4 and an IPv6 slice is one endpoint). Terminating endpoints are on their way
    out (a rolling update) and are counted apart from the total."""

    namespace: str
    service: str
    source_kind: str
    """`EndpointSlice`, or `Endpoints` where the Service has no slices."""
    addresses: tuple[EndpointAddress, ...]
    objects: int = 0
    """How many slices (or Endpoints objects) it is counted from; 0: the Service's are gone."""
    ready: int = field(init=False)
    terminating: int = field(init=False)
    not_ready: int = field(init=False)
    total: int = field(init=False)
    """Counted once when the Service is merged: the detector, the views and the documents all
    read them, several times per record."""

    def __post_init__(self) -> None:
        ready = terminating = 0
        for a in self.addresses:
            if a.terminating:
                terminating += 1
            elif a.ready:
                ready += 1
        self.ready, self.terminating = ready, terminating
        self.not_ready = not_ready = len(self.addresses) - ready - terminating
        self.total = ready + not_ready

    @property
    def unhealthy_addresses(self) -> tuple[EndpointAddress, ...]:
        return tuple(a for a in self.addresses if not a.ready and not a.terminating)

    def counts(self) -> dict[str, int]:
        return {"ready": self.ready, "not_ready": self.not_ready, "terminating": self.terminating,
                "total": self.total}


@dataclass(slots=True, unsafe_hash=True)
class NewTermination:
    """A container termination this record shows for the first time."""

    container: ContainerInfo
    termination: Termination

    @property
    def ident(self) -> str:
        """The termination's identity within its container: finishedAt, else the container id.
        Formatted when asked (an OOM's incident id), not for every status update."""
        return termination_ident(self.termination, self.container.restart_count)


@dataclass(slots=True, unsafe_hash=True)
class Observation:
    """What one record changed, as every consumer of the record reads it."""

    occurrences: int = 0
    """How many occurrences the record stands for: an Event's count increase since it was last
    seen (client-go's recorder bumps `count` on repeats), 1 for other changes, 0 for a deletion."""
    service: Optional[ServiceEndpoints] = None
    """Endpoints records: the Service after this change."""
    authoritative: bool = False
    """Endpoints records: the Service is counted from this record's kind (a Service with slices
    ignores its core/v1 Endpoints, which describe the same addresses)."""
    terminations: tuple[NewTermination, ...] = ()
    """Pod records: terminations seen for the first time, in container order."""


#: The observations of most records carry nothing but their occurrences: immutable, so shared.
_NO_OCCURRENCE = Observation(occurrences=0)
_ONE_OCCURRENCE = Observation(occurrences=1)


def _occurrences(n: int) -> Observation:
    if n == 1:
        return _ONE_OCCURRENCE
    return _NO_OCCURRENCE if n == 0 else Observation(occurrences=n)


def termination_ident(t: Termination, restarts: int) -> str:
    if t.finished_at is not None:
        return _stamp(t.finished_at)
    return t.container_id or f"restart-{restarts}"


def _seen_key(t: Termination, restarts: int) -> object:
    """What `termination_ident` tells apart, without formatting a time: `finishedAt` itself
    (UTC from `watcher.normalize`: equal times, equal stamps), else the same string.
    (`Pods.observe` takes `finishedAt` without the call.)"""
    if t.finished_at is not None:
        return t.finished_at
    return t.container_id or f"restart-{restarts}"


@lru_cache(maxsize=4096)
def _stamp(when: datetime) -> str:
    """Cached: every status update of a pod repeats its containers' last terminations."""
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def endpoint_identity(a: EndpointAddress) -> tuple[str, str]:
    """One endpoint per pod, whatever its address families; an address without a pod is itself."""
    return ("pod", a.pod) if a.pod else ("ip", a.ip)


@dataclass(slots=True)
class _Service:
    members: dict[tuple[str, str], tuple[EndpointAddress, ...]] = field(default_factory=dict)
    """(record kind, object name) -> its addresses."""
    record: Optional[Record] = None
    """The latest record the Service is counted from (its labels, workload, resourceVersion)."""


class Services:
    """Endpoints per Service, merged across slices and address families."""

    def __init__(self) -> None:
        self.known = False
        """Set once the endpoint sources' first LIST has been read into this state: then a pod
        found in no Service backs none, even where no Service exists at all."""
        self._services: dict[tuple[str, str], _Service] = {}
        self._in_namespace: dict[str, dict[str, _Service]] = {}
        """The same Services by namespace, then name: an OOM asks whether its pod backs one."""

    def __len__(self) -> int:
        return len(self._services)

    def observe(self, record: Record) -> Observation:
        info = record.endpoints
        assert info is not None
        svc_key = (record.namespace, info.service)
        svc = self._services.get(svc_key)
        if svc is None:
            svc = self._services[svc_key] = _Service()
            self._in_namespace.setdefault(record.namespace, {})[info.service] = svc
        member = (record.kind, record.name)
        if record.watch_type == "DELETED":
            svc.members.pop(member, None)
        else:
            svc.members[member] = info.addresses
        view = _merge(record.namespace, info.service, svc)
        if not svc.members:
            del self._services[svc_key]
            in_namespace = self._in_namespace[record.namespace]
            del in_namespace[info.service]
            if not in_namespace:
                del self._in_namespace[record.namespace]
        authoritative = record.kind == view.source_kind or record.watch_type == "DELETED"
        if authoritative:
            svc.record = record
        return Observation(occurrences=0 if record.watch_type == "DELETED" else 1, service=view,
                           authoritative=authoritative)

    def latest(self) -> Iterator[tuple[ServiceEndpoints, Record]]:
        """Every Service as it stands, with the latest record it is counted from."""
        for (namespace, service), svc in list(self._services.items()):
            if svc.record is not None:
                yield _merge(namespace, service, svc), svc.record

    def backed_by(self, namespace: str, pod: str) -> bool:
        """Whether `pod` is an endpoint of any Service (a scan of the namespace's Services: asked
        once per OOM, not per record)."""
        return any(a.pod == pod for svc in self._in_namespace.get(namespace, {}).values()
                   for addresses in svc.members.values() for a in addresses)

    def get(self, namespace: str, service: str) -> Optional[ServiceEndpoints]:
        svc = self._services.get((namespace, service))
        return _merge(namespace, service, svc) if svc is not None else None


def _merge(namespace: str, service: str, svc: _Service) -> ServiceEndpoints:
    members = svc.members
    if len(members) == 1:  # most Services: one slice (or one Endpoints object), nothing to sort
        (only,) = members
        kind = "EndpointSlice" if only[0] == "EndpointSlice" else "Endpoints"
        counted = [only] if only[0] == kind else []
    else:
        kind = "EndpointSlice" if any(k == "EndpointSlice" for k, _ in members) else "Endpoints"
        counted = sorted(m for m in members if m[0] == kind)
    merged: dict[tuple[str, str], EndpointAddress] = {}
    for member in counted:
        for a in members[member]:
            ident = ("pod", a.pod) if a.pod else ("ip", a.ip)  # `endpoint_identity`, without the call
            seen = merged.get(ident)
            # The same pod in several slices (IPv4 + IPv6): ready only where every family says
            # so, terminating where any does; the first address (sorted by slice) names it.
            merged[ident] = a if seen is None else EndpointAddress(
                ip=seen.ip, ready=seen.ready and a.ready, serving=seen.serving and a.serving,
                terminating=seen.terminating or a.terminating, node=seen.node or a.node, pod=seen.pod)
    return ServiceEndpoints(namespace, service, kind, tuple(merged.values()), len(counted))


class Pods:
    """Per container: the terminations already seen. Per pod: the newest termination (the cause
    of an endpoint drop). Per node: its IP (slices name only the node)."""

    def __init__(self) -> None:
        self._seen: OrderedDict[tuple[str, str], OrderedDict[object, None]] = OrderedDict()
        self._newest: OrderedDict[tuple[str, str], _Newest] = OrderedDict()
        self._workloads: OrderedDict[tuple[str, str], tuple[str, str]] = OrderedDict()
        self.node_ips: dict[str, str] = {}

    def observe(self, record: Record) -> Observation:
        pod = record.pod
        assert pod is not None
        if pod.node and pod.host_ip and self.node_ips.get(pod.node) != pod.host_ip and len(self.node_ips) < 20_000:
            self.node_ips[pod.node] = pod.host_ip
        if record.watch_type == "DELETED":
            for c in pod.containers:
                self._seen.pop((record.uid, c.name), None)
            self._newest.pop((record.namespace, record.name), None)
            self._workloads.pop((record.namespace, record.name), None)
            return _NO_OCCURRENCE
        if record.workload_name:
            key = (record.namespace, record.name)
            self._workloads[key] = (record.workload_kind, record.workload_name)
            self._workloads.move_to_end(key)
            if len(self._workloads) > MAX_CONTAINERS:
                self._workloads.popitem(last=False)
        new, newest = self._terminations(record.uid, pod.containers)
        if newest is not None:
            self._remember_newest(record, _Newest(*newest, pod.node))
        return Observation(occurrences=1, terminations=tuple(new)) if new else _ONE_OCCURRENCE

    def _terminations(self, uid: str, containers: tuple[ContainerInfo, ...]
                      ) -> tuple[list[NewTermination], Optional[tuple[datetime, Termination, ContainerInfo]]]:
        """One pass over the containers' terminations: those seen for the first time (now
        remembered), and the newest of all (finishedAt, termination, container)."""
        new: list[NewTermination] = []
        newest: Optional[tuple[datetime, Termination, ContainerInfo]] = None
        all_seen = self._seen
        for c in containers:
            key = (uid, c.name)
            seen = all_seen.get(key)
            for t in (c.terminated, c.last_terminated):
                if t is None:
                    continue
                finished = t.finished_at
                if finished is not None and (newest is None or finished > newest[0]):
                    newest = (finished, t, c)
                ident = finished if finished is not None else _seen_key(t, c.restart_count)
                if seen is None:
                    seen = all_seen[key] = OrderedDict()
                    if len(all_seen) > MAX_CONTAINERS:
                        all_seen.popitem(last=False)
                if ident in seen:
                    continue
                seen[ident] = None
                if len(seen) > SEEN_PER_CONTAINER:
                    seen.popitem(last=False)  # forget the oldest, never the one just seen
                new.append(NewTermination(c, t))
            if seen is not None:
                all_seen.move_to_end(key)
        return new, newest

    def _remember_newest(self, record: Record, newest: _Newest) -> None:
        """Keep the pod's newest termination as seen; `cause` describes it only when asked (an
        endpoint drop, rarely), so a status update builds nothing."""
        key = (record.namespace, record.name)
        self._newest[key] = newest
        self._newest.move_to_end(key)
        if len(self._newest) > MAX_CONTAINERS:
            self._newest.popitem(last=False)

    def workload_of(self, namespace: str, pod: str) -> Optional[tuple[str, str]]:
        """(kind, name) of the workload that owns a pod seen in the stream, or None."""
        return self._workloads.get((namespace, pod))

    def cause(self, namespace: str, pods: list[str], at: datetime) -> Optional[dict[str, Any]]:
        """The newest termination among `pods` that happened within `CAUSE_WINDOW` of `at`."""
        found = [(p, n) for p in pods if (n := self._newest.get((namespace, p))) is not None
                 and abs(at - n.at) <= CAUSE_WINDOW]
        if not found:
            return None
        pod, newest = max(found, key=lambda item: item[1].at)
        t, c = newest.termination, newest.container
        return {"pod": pod, "container": c.name, "reason": t.reason, "exit_code": t.exit_code,
                "finished_at": newest.at, "node": newest.node, "restarts": c.restart_count,
                "memory_limit": c.memory_limit}


class _Newest(NamedTuple):
    """A pod's newest termination, as `Pods.cause` needs it."""

    at: datetime
    termination: Termination
    container: ContainerInfo
    node: str


class Events:
    """Occurrences per Event: its count increase since it was last seen."""

    def __init__(self) -> None:
        self._counts: OrderedDict[str, int] = OrderedDict()

    def observe(self, record: Record) -> Observation:
        assert record.event is not None
        if record.watch_type == "DELETED":
            self._counts.pop(record.uid, None)
            return _NO_OCCURRENCE
        counts, uid = self._counts, record.uid
        known = counts.get(uid)
        count = record.event.count or 1
        counts[uid] = count
        if known is None:  # a new key is already the newest: no move, and the only time it grows
            if len(counts) > MAX_EVENTS:
                counts.popitem(last=False)
            return _ONE_OCCURRENCE
        counts.move_to_end(uid)
        return _occurrences(max(0, count - known))


class ClusterState:
    """Everything the rules derive from the stream, in one place (see the module docstring)."""

    def __init__(self) -> None:
        self.services = Services()
        self.pods = Pods()
        self.events = Events()

    def observe(self, record: Record) -> Observation:
        if record.event is not None:
            return self.events.observe(record)
        if record.pod is not None:
            return self.pods.observe(record)
        if record.endpoints is not None:
            return self.services.observe(record)
        return _NO_OCCURRENCE if record.watch_type == "DELETED" else _ONE_OCCURRENCE

    def workload_of(self, record: Record) -> tuple[str, str]:
        """(kind, name) of the workload an alert on `record` names. An Event is about another
        object: that object's workload (a Pod's Deployment, as the stream showed it), else the
        object itself, not the Event."""
        e = record.event
        if e is None or record.workload_name:
            return record.workload_kind, record.workload_name
        if e.involved_kind == "Pod":
            owner = self.pods.workload_of(e.involved_namespace or record.namespace, e.involved_name)
            if owner is not None:
                return owner
        return (e.involved_kind, e.involved_name) if e.involved_name else ("", "")

    def peek(self, record: Record) -> Observation:
        """The observation of an already observed endpoints record as the state stands now,
        without changing anything (to judge a Service again after a rule reload)."""
        if record.endpoints is None:
            return _NO_OCCURRENCE
        svc = self.services.get(record.namespace, record.endpoints.service)
        return Observation(occurrences=0, service=svc, authoritative=True)
