"""Turn the API's JSON dict for one watch event into a `rules.Record`.

Works on plain dicts (what `kubectl -o json` prints and what the raw watch stream carries), never
on the client's generated model classes: they are slow and memory-heavy. Anything malformed raises
`MalformedObject` with a short, stable `reason` so the caller can count it by reason and go on.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, Mapping, Optional, TypeGuard, get_args

from rules.model import (
    ContainerInfo,
    EndpointAddress,
    EndpointsInfo,
    EventInfo,
    PodInfo,
    Record,
    SourceKind,
    Termination,
    WatchType,
)

WATCH_TYPES: frozenset[str] = frozenset(get_args(WatchType))
KINDS: frozenset[str] = frozenset(get_args(SourceKind))

#: Annotation the EndpointSlice/Endpoints controllers set to the time of the Pod change that
#: caused the update: the best "when" an endpoints object carries.
CHANGE_TRIGGER_ANNOTATION = "endpoints.kubernetes.io/last-change-trigger-time"
#: Label that ties an EndpointSlice to its Service.
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
#: A full copy of the object kubectl applied: large, and no rule or message needs it.
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
#: The label the Deployment controller puts on a ReplicaSet's Pods; the ReplicaSet is named
#: `<deployment>-<that hash>`.
POD_TEMPLATE_HASH_LABEL = "pod-template-hash"
# A Job created by a CronJob is named `<cronjob>-<scheduled time in minutes since the epoch>`
# (kubernetes pkg/controller/cronjob getJobName): 8 digits from 1989 to 2160.
_JOB_SUFFIX = re.compile(r"^(?P<base>.+)-(?P<minutes>\d{8})$")
#: A CronJob's Pod is created after its scheduled time, and not long after: retries of a
#: failing Job (backoffLimit) take minutes to hours. A Job named by date (`backup-20250101`)
#: would have a "schedule" years before its Pod.
_CRONJOB_POD_LAG = timedelta(days=7)
#: Clock skew between the CronJob controller and the apiserver stamping creationTimestamp.
_CRONJOB_SKEW = timedelta(minutes=5)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class MalformedObject(ValueError):
    """An object the normaliser cannot read. `reason` is a short label for metrics."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def normalize(
    watch_type: object, obj: object, *, cluster: str, kind: object = None, listed: bool = False
) -> Record:
    """Build a Record from one object. `kind` overrides `obj["kind"]` (LIST items lack it).

    `watch_type`, `obj` and `kind` are typed `object`: they come off the wire, anything may be
    there, and a compiled build (setup.py) checks annotations when called."""
    if not _is_watch_type(watch_type):
        raise MalformedObject("bad_watch_type", f"watch type {watch_type!r}")
    if not isinstance(obj, dict):
        raise MalformedObject("not_an_object", f"object is {type(obj).__name__}")
    source_kind = kind or obj.get("kind")
    if not _is_source_kind(source_kind):
        raise MalformedObject("unknown_kind", f"kind {source_kind!r}")
    return _record(watch_type, obj, source_kind, cluster=cluster, listed=listed)


def _is_watch_type(value: object) -> TypeGuard[WatchType]:
    return isinstance(value, str) and value in WATCH_TYPES


def _is_source_kind(value: object) -> TypeGuard[SourceKind]:
    return isinstance(value, str) and value in KINDS


def _record(watch_type: WatchType, obj: dict[str, Any], kind: SourceKind, *, cluster: str, listed: bool) -> Record:
    """The Record of an object whose watch type and kind are known good."""
    meta = _mapping(obj.get("metadata"), "metadata")
    name = _str(meta.get("name"))
    if not name:
        raise MalformedObject("no_name", f"{kind} without metadata.name")
    labels = _str_map(meta.get("labels"))
    annotations = _str_map(meta.get("annotations"))
    if _LAST_APPLIED in annotations:
        annotations = {k: v for k, v in annotations.items() if k != _LAST_APPLIED}
    namespace, uid, rv = _str(meta.get("namespace")), _str(meta.get("uid")), _str(meta.get("resourceVersion"))
    if kind == "Event":
        event = _event(obj)
        when = event.last_timestamp or event.first_timestamp or _time(meta.get("creationTimestamp"))
        # All positional, in Record's field order (the last ones named on the right): keyword
        # arguments cost ~0.13 us more per record.
        return Record(kind, watch_type, cluster, namespace, name, uid, rv, when, labels, annotations,
                      "", "", listed, event)  # workload_kind workload_name listed event
    if kind == "Pod":
        pod = _pod(obj)
        wk, wn = _owner(meta, labels)
        return Record(kind, watch_type, cluster, namespace, name, uid, rv, _pod_time(meta, pod), labels, annotations,
                      wk, wn, listed, None, pod)  # workload_kind workload_name listed event pod
    endpoints = _endpoint_slice(obj, labels, name) if kind == "EndpointSlice" else _endpoints(obj, name)
    when = _time(annotations.get(CHANGE_TRIGGER_ANNOTATION))
    return Record(kind, watch_type, cluster, namespace, name, uid, rv, when, labels, annotations,
                  "Service", endpoints.service, listed, None, None, endpoints)  # ... listed event pod endpoints


def parse_time(value: Any) -> Optional[datetime]:
    """RFC 3339 (`2024-05-01T10:00:00Z`, with or without fraction) to an aware UTC datetime."""
    return _time(value)


# --- per kind -------------------------------------------------------------------------------


def _event(obj: Mapping[str, Any]) -> EventInfo:
    involved = obj.get("involvedObject") or obj.get("regarding")
    if involved.__class__ is not dict:  # (the check `_mapping` makes, without the call when it passes)
        involved = _mapping(involved, "involvedObject")
    source = obj.get("source")
    if source.__class__ is not dict:
        source = _mapping(source, "source")
    series = obj.get("series")
    if series.__class__ is not dict:
        series = _mapping(series, "series")
    count = obj.get("count", series.get("count", 1))
    if count is None:
        count = 1
    if count.__class__ is not int or count < 0:  # (bool is not int here: `is`, not isinstance)
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise MalformedObject("bad_field", f"Event count {count!r}")
    first, last = _event_times(obj, series)
    # Positional, in the dataclass's field order (named on the right): 13 keyword arguments
    # cost ~0.4 us more per Event, the most frequent record (so for a Pod's parts below).
    return EventInfo(
        _str(obj.get("reason")),  # reason
        _str(obj.get("type")),  # type
        _str(obj.get("message") or obj.get("note")),  # message
        count,  # count
        first,  # first_timestamp
        last,  # last_timestamp
        _str(involved.get("kind")),  # involved_kind
        _str(involved.get("name")),  # involved_name
        _str(involved.get("namespace")),  # involved_namespace
        _str(involved.get("uid")),  # involved_uid
        _str(involved.get("fieldPath")),  # involved_field_path
        _str(obj.get("reportingComponent") or source.get("component")),  # component
        _str(source.get("host")),  # host
    )


def _event_times(obj: Mapping[str, Any], series: Mapping[str, Any]) -> tuple[Optional[datetime], Optional[datetime]]:
    """(first, last) time of an Event, core/v1 fields first, then events.k8s.io's."""
    last_raw, first_raw = obj.get("lastTimestamp"), obj.get("firstTimestamp")
    last = _time(last_raw) or _time(series.get("lastObservedTime")) or _time(obj.get("eventTime"))
    if last_raw and last_raw.__class__ is str and first_raw == last_raw:
        return last, last  # a new Event's first and last times are the same text: parsed once
    return _time(first_raw) or _time(obj.get("eventTime")), last


#: The spec's container lists, with where an error says they are (spelt once, not per Pod).
_SPEC_LISTS = tuple((key, f"spec.{key}", f"spec.{key}[]") for key in ("initContainers", "containers",
                                                                         "ephemeralContainers"))
#: The status's container lists: (key, init, ephemeral, where, where an item is). Ephemeral
#: (`kubectl debug`) containers run in the Pod too, and can be OOMKilled too.
_STATUS_LISTS = tuple((key, init, ephemeral, f"status.{key}", f"status.{key}[]") for key, init, ephemeral in (
    ("initContainerStatuses", True, False), ("containerStatuses", False, False),
    ("ephemeralContainerStatuses", False, True)))


def _pod(obj: Mapping[str, Any]) -> PodInfo:
    spec = _mapping(obj.get("spec"), "spec")
    status = _mapping(obj.get("status"), "status")
    limits: dict[str, str] = {}
    for key, where, item in _SPEC_LISTS:
        listed = spec.get(key)
        if listed is None:  # most pods have no init or ephemeral containers
            continue
        for c in _list(listed, where):
            c = _mapping(c, item)
            res = _mapping(_mapping(c.get("resources"), "resources").get("limits"), "limits")
            limits[_str(c.get("name"))] = _str(res.get("memory"))
    containers = []
    for key, init, ephemeral, where, item in _STATUS_LISTS:
        listed = status.get(key)
        if listed is None:
            continue
        for cs in _list(listed, where):
            containers.append(_container(_mapping(cs, item), init, limits, ephemeral))
    return PodInfo(  # positional, in field order (named on the right), as `_event` says why
        _str(status.get("phase")),  # phase
        _str(spec.get("nodeName")),  # node
        _str(status.get("podIP")),  # pod_ip
        _str(status.get("hostIP")),  # host_ip
        tuple(containers),  # containers
    )


def _container(cs: Mapping[str, Any], init: bool, limits: Mapping[str, str], ephemeral: bool) -> ContainerInfo:
    name = _str(cs.get("name"))
    state = cs.get("state")
    if state.__class__ is not dict:  # (the check `_mapping` makes, without the call when it passes)
        state = _mapping(state, "state")
    last = cs.get("lastState")
    if last.__class__ is not dict:
        last = _mapping(last, "lastState")
    restarts = cs.get("restartCount", 0)
    if restarts.__class__ is not int or restarts < 0:  # (bool is not int here: `is`, not isinstance)
        if not isinstance(restarts, int) or isinstance(restarts, bool) or restarts < 0:
            raise MalformedObject("bad_field", f"container {name!r} restartCount {restarts!r}")
    current = _state_name(state)
    return ContainerInfo(  # positional, in field order (named on the right), as `_event` says why
        name,  # name
        init,  # init
        restarts,  # restart_count
        cs.get("ready") is True,  # ready
        current,  # state
        _str(_mapping(state.get("waiting"), "waiting").get("reason")),  # waiting_reason
        _termination(state.get("terminated")),  # terminated
        _termination(last.get("terminated")),  # last_terminated
        limits.get(name, ""),  # memory_limit
        ephemeral,  # ephemeral
    )


def _state_name(state: Mapping[str, Any]) -> str:
    for name in ("running", "waiting", "terminated"):
        if state.get(name) is not None:
            return name
    return "unknown"


def _termination(raw: Any) -> Optional[Termination]:
    if raw is None:
        return None
    t = _mapping(raw, "terminated")
    code = t.get("exitCode")
    if code is not None and (not isinstance(code, int) or isinstance(code, bool)):
        raise MalformedObject("bad_field", f"exitCode {code!r}")
    signal = t.get("signal")
    return Termination(  # positional, in field order (named on the right), as `_event` says why
        _str(t.get("reason")),  # reason
        code,  # exit_code
        signal if isinstance(signal, int) and not isinstance(signal, bool) else None,  # signal
        _time(t.get("startedAt")),  # started_at
        _time(t.get("finishedAt")),  # finished_at
        _str(t.get("containerID")),  # container_id
        _str(t.get("message")),  # message
    )


def _pod_time(meta: Mapping[str, Any], pod: PodInfo) -> Optional[datetime]:
    """The newest termination in the pod's statuses, else its creation time."""
    times = [
        t.finished_at
        for c in pod.containers
        for t in (c.terminated, c.last_terminated)
        if t is not None and t.finished_at is not None
    ]
    return max(times) if times else _time(meta.get("creationTimestamp"))


def _endpoint_slice(obj: Mapping[str, Any], labels: Mapping[str, str], name: str) -> EndpointsInfo:
    service = labels.get(SERVICE_NAME_LABEL, "")
    if not service:
        raise MalformedObject("no_service", f"EndpointSlice {name!r} without label {SERVICE_NAME_LABEL}")
    addresses = []
    for ep in _list(obj.get("endpoints"), "endpoints"):
        ep = _mapping(ep, "endpoints[]")
        cond = _mapping(ep.get("conditions"), "conditions")
        terminating = cond.get("terminating") is True
        # A nil `ready` means ready (discovery.k8s.io/v1 API reference); `serving` defaults to it.
        ready = cond.get("ready") is not False
        serving = cond.get("serving", ready) is not False
        ref = _mapping(ep.get("targetRef"), "targetRef")
        node = _str(ep.get("nodeName"))
        pod = _str(ref.get("name")) if ref.get("kind") == "Pod" else ""
        for ip in _list(ep.get("addresses"), "addresses") or [""]:
            addresses.append(EndpointAddress(_str(ip), ready, serving, terminating, node, pod))
    return EndpointsInfo(service, tuple(addresses))


def _endpoints(obj: Mapping[str, Any], name: str) -> EndpointsInfo:
    addresses = []
    for subset in _list(obj.get("subsets"), "subsets"):
        subset = _mapping(subset, "subsets[]")
        for key, ready in (("addresses", True), ("notReadyAddresses", False)):
            for a in _list(subset.get(key), key):
                a = _mapping(a, f"{key}[]")
                ref = _mapping(a.get("targetRef"), "targetRef")
                pod = _str(ref.get("name")) if ref.get("kind") == "Pod" else ""
                addresses.append(EndpointAddress(_str(a.get("ip")), ready, ready, False, _str(a.get("nodeName")), pod))
    # core/v1 Endpoints share the Service's name.
    return EndpointsInfo(service=name, addresses=tuple(addresses))


def _owner(meta: Mapping[str, Any], labels: Mapping[str, str]) -> tuple[str, str]:
    """The controller among the owner references, else the first one."""
    ref = None
    for r in _list(meta.get("ownerReferences"), "ownerReferences"):
        if isinstance(r, dict):
            if r.get("controller") is True:
                ref = r
                break
            if ref is None:
                ref = r
    if ref is None:
        return "", ""
    kind, name = _str(ref.get("kind")), _str(ref.get("name"))
    if kind == "ReplicaSet":
        # Only the Deployment controller copies the hash onto the Pods; a bare ReplicaSet
        # named `web-5d9c7` is not Deployment `web`.
        pod_hash = labels.get(POD_TEMPLATE_HASH_LABEL, "")
        if pod_hash and len(name) > len(pod_hash) + 1 and name.endswith("-" + pod_hash):
            return "Deployment", name[: -len(pod_hash) - 1]
    if kind == "Job" and (cronjob := _cronjob_of(name, _time(meta.get("creationTimestamp")))):
        return "CronJob", cronjob
    return kind, name


def _cronjob_of(job: str, pod_created: Optional[datetime]) -> str:
    """The CronJob's name when `job` is named like one of its Jobs (and, when the Pod says
    when it was created, that is shortly after the scheduled time); else ''."""
    m = _JOB_SUFFIX.match(job)
    if m is None:
        return ""
    if pod_created is not None:
        scheduled = _EPOCH + timedelta(minutes=int(m.group("minutes")))
        if not scheduled - _CRONJOB_SKEW <= pod_created <= scheduled + _CRONJOB_POD_LAG:
            return ""
    return m.group("base")


# --- defensive readers ----------------------------------------------------------------------


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MalformedObject("bad_field", f"{where} is {type(value).__name__}, expected an object")
    return value


def _list(value: Any, where: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedObject("bad_field", f"{where} is {type(value).__name__}, expected a list")
    return value


def _str(value: Any) -> str:
    if value.__class__ is str:
        return value
    return "" if value is None else str(value)


def _str_map(value: Any) -> dict[str, str]:
    if not value:
        if value is None or value.__class__ is dict:
            return {}
    if value.__class__ is not dict:
        raise MalformedObject("bad_field", f"labels/annotations is {type(value).__name__}")
    for k, v in value.items():
        if k.__class__ is not str or v.__class__ is not str:
            return {str(k): _str(v) for k, v in value.items()}
    return value  # already str -> str: no copy on the hot path


def _time(value: Any) -> Optional[datetime]:
    if not value or value.__class__ is not str:
        return None
    return _parse_time(value)


@lru_cache(maxsize=8192)
def _parse_time(value: str) -> datetime:
    """Cached: a burst of changes shares a handful of distinct second-resolution timestamps."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=timezone.utc)
        if parsed.tzinfo is timezone.utc:  # `Z` / `+00:00`, nearly every API timestamp
            return parsed
        # OverflowError: valid as written, outside datetime's range once in UTC (9999-12-31T23:59-01:00)
        return parsed.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise MalformedObject("bad_timestamp", f"timestamp {value[:40]!r}") from None
