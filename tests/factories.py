"""Raw API objects as the apiserver (or kubectl -o json) would print them, for unit tests."""
from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from typing import Any

from watcher.normalize import normalize

T0 = datetime(2026, 11, 20, 2, 0, 0, tzinfo=timezone.utc)
_rv = itertools.count(1000)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ts(seconds: float) -> str:
    return at(seconds).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(name: str = "web-6d8f7c9b4-k7m2p", ns: str = "shop", *, restarts: int = 0, last: dict | None = None,
        terminated: dict | None = None, ready: bool = True, node: str = "node-1", limit: str = "512Mi",
        container: str = "app", labels: dict | None = None, created: float = 0, rs: str | None = "web-6d8f7c9b4") -> dict[str, Any]:
    state = {"terminated": terminated} if terminated else {"running": {"startedAt": ts(created)}}
    meta: dict[str, Any] = {"name": name, "namespace": ns, "uid": f"uid-{name}", "resourceVersion": str(next(_rv)),
                            "creationTimestamp": ts(created), "labels": labels or {"app": "web", "pod-template-hash": "6d8f7c9b4"}}
    if rs:
        meta["ownerReferences"] = [{"kind": "ReplicaSet", "name": rs, "controller": True}]
    return {
        "kind": "Pod", "metadata": meta,
        "spec": {"nodeName": node, "containers": [{"name": container, "resources": {"limits": {"memory": limit}}}]},
        "status": {"phase": "Running", "podIP": "10.1.0.5", "hostIP": "192.168.0.11", "containerStatuses": [{
            "name": container, "ready": ready, "restartCount": restarts, "state": state,
            "lastState": {"terminated": last} if last else {}}]},
    }


def oom(finished: float, code: int = 137, reason: str = "OOMKilled") -> dict[str, Any]:
    return {"reason": reason, "exitCode": code, "startedAt": ts(finished - 60), "finishedAt": ts(finished),
            "containerID": f"containerd://{int(finished)}"}


def event(name: str = "web.1", ns: str = "shop", *, reason: str = "BackOff", type_: str = "Warning", count: int = 1,
          last: float = 0, first: float | None = None, involved: str = "web-6d8f7c9b4-k7m2p", message: str = "Back-off restarting failed container") -> dict[str, Any]:
    return {"kind": "Event", "metadata": {"name": name, "namespace": ns, "uid": f"uid-{name}", "resourceVersion": str(next(_rv))},
            "involvedObject": {"kind": "Pod", "name": involved, "namespace": ns}, "reason": reason, "type": type_,
            "message": message, "count": count, "firstTimestamp": ts(last if first is None else first), "lastTimestamp": ts(last),
            "source": {"component": "kubelet", "host": "node-1"}}


def endpoint_slice(ready: list[bool], *, service: str = "web", ns: str = "shop", name: str | None = None, change: float = 0,
                   terminating: list[bool] | None = None, pods: list[str] | None = None) -> dict[str, Any]:
    terminating = terminating or [False] * len(ready)
    pods = pods or [f"{service}-pod-{i}" for i in range(len(ready))]
    return {"kind": "EndpointSlice", "metadata": {
        "name": name or f"{service}-abcde", "namespace": ns, "uid": f"uid-{name or service}", "resourceVersion": str(next(_rv)),
        "labels": {"kubernetes.io/service-name": service},
        "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": ts(change)}},
        "endpoints": [{"addresses": [f"10.1.0.{i + 10}"], "conditions": {"ready": r, "terminating": t}, "nodeName": f"node-{i}",
                       "targetRef": {"kind": "Pod", "name": p}} for i, (r, t, p) in enumerate(zip(ready, terminating, pods))]}


def rec(obj: dict[str, Any], watch_type: str = "MODIFIED", *, listed: bool = False, cluster: str = "test"):
    return normalize(watch_type, obj, cluster=cluster, listed=listed)
