"""Stand-ins for the kubelet, the controllers and the event recorder, for tests against the bare
ControlPlane (tests/harness/kube.py), where none of them runs: pods and their statuses, Events
and their repeats, EndpointSlices and Endpoints, written the way those components write them.
On the full Cluster (tests/harness/cluster.py) the real components write these instead.

Stand-ins are kept only where a test needs a change the real components make only on their own
schedule, or where they would write what the test must not see. The tests that use them, and why:
- the apiserver killed or etcd compacted while the watchers are away (kube/test_apiserver_restart,
  kube/test_relist_410, kube/test_resume_after_restart, e2e/test_restart_scenarios' compaction):
  every change must be one the test made, at the moment it chose, or "seen exactly once" has
  nothing exact to count; controllers and kwok write on through the outage;
- a status patch that repeats a termination already seen, 1,000 Events from before the start,
  an Event type the server filters (kube/test_oomkilled, kube/test_startup_history,
  kube/test_field_selectors): shapes no component writes on demand;
- many changes in one instant: 60 OOMs during a robot's block, three Services dropping together,
  an OOM in the second the daemon starts (e2e/test_daemon_failover, kube/test_failover_backlog,
  e2e/test_restart_scenarios): kwok plays a fault per pod after its stage's delay, so what the
  tests count would depend on the machine's speed;
- the delivery path rather than the cluster (e2e/test_daemon_kube, e2e/test_daemon_teams,
  kube/test_endpoint_drop, silences/test_e2e): one OOM or one drop is the input. That the real
  controllers and kwok make those inputs as the daemon expects is what e2e/test_cluster_scenarios.py
  and e2e/test_cluster_inhibition.py show; these stay here, where the input is one request and
  not a Deployment's rollout.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any, Iterable

from tests.harness.api import apply_object, now, request

PAUSE_IMAGE = "registry.k8s.io/pause:3.10"


def create_namespace(api, name: str | None = None) -> str:
    name = name or f"t-{secrets.token_hex(4)}"
    request(api, "POST", "/api/v1/namespaces", {"metadata": {"name": name}})
    return name


def create_pod(api, ns: str, name: str, containers: Iterable[str | dict] = ("app",), *,
               labels: dict | None = None, owner_rs: str | dict | None = None,
               node_name: str | None = None) -> dict:
    """Create a pod. ``containers``: names (pause image) or full container dicts.
    ``owner_rs``: a ReplicaSet name (a made-up uid; no garbage collector runs) or a
    dict with name/uid. ``node_name`` sets spec.nodeName as the scheduler would
    (it can only be set at create time)."""
    spec: dict[str, Any] = {"containers": [
        c if isinstance(c, dict) else {"name": c, "image": PAUSE_IMAGE} for c in containers]}
    if node_name:
        spec["nodeName"] = node_name
    meta: dict[str, Any] = {"name": name, "labels": dict(labels or {})}
    if owner_rs:
        rs = owner_rs if isinstance(owner_rs, dict) else {"name": owner_rs}
        meta["ownerReferences"] = [{
            "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs["name"],
            "uid": rs.get("uid") or str(uuid.uuid5(uuid.NAMESPACE_URL, f"rs/{ns}/{rs['name']}")),
            "controller": True, "blockOwnerDeletion": True}]
    return request(api, "POST", f"/api/v1/namespaces/{ns}/pods",
                   {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec})


def terminated(reason: str = "OOMKilled", exit_code: int = 137, *,
               started_at: str | None = None, finished_at: str | None = None) -> dict:
    """A container state ``{"terminated": ...}`` (default: OOM-killed)."""
    ts = now()
    return {"terminated": {"reason": reason, "exitCode": exit_code,
                           "startedAt": started_at or ts, "finishedAt": finished_at or ts}}


def container_status(name: str, *, ready: bool = True, restart_count: int = 0,
                     state: dict | None = None, last_state: dict | None = None,
                     image: str = PAUSE_IMAGE) -> dict:
    """A containerStatuses entry as the kubelet reports it; running unless ``state``."""
    return {"name": name, "ready": ready, "started": "running" in (state or {"running": 1}),
            "restartCount": restart_count, "image": image,
            "imageID": f"{image}@sha256:{'0' * 64}", "containerID": f"containerd://{name}",
            "state": state or {"running": {"startedAt": now()}},
            "lastState": last_state or {}}


def patch_pod_status(api, ns: str, name: str, *, container_statuses: list[dict] | None = None,
                     pod_ip: str | None = None, host_ip: str | None = None,
                     phase: str | None = "Running", conditions: list[dict] | None = None) -> dict:
    """Write pod status like the kubelet (status subresource, JSON merge patch: the
    lists given replace the old ones)."""
    status: dict[str, Any] = {}
    if phase:
        status["phase"] = phase
    if container_statuses is not None:
        status["containerStatuses"] = container_statuses
    if conditions is not None:
        status["conditions"] = conditions
    if pod_ip:
        status.update(podIP=pod_ip, podIPs=[{"ip": pod_ip}])
    if host_ip:
        status.update(hostIP=host_ip, hostIPs=[{"ip": host_ip}])
    return request(api, "PATCH", f"/api/v1/namespaces/{ns}/pods/{name}/status",
                   {"status": status}, content_type="application/merge-patch+json")


def object_ref(obj: dict) -> dict:
    """An involvedObject reference from an object dict (or a reference, returned as is)."""
    if "metadata" not in obj:
        return obj
    m = obj["metadata"]
    ref = {"apiVersion": obj.get("apiVersion", "v1"), "kind": obj.get("kind", "Pod"),
           "name": m["name"], "namespace": m.get("namespace"), "uid": m.get("uid"),
           "resourceVersion": m.get("resourceVersion")}
    return {k: v for k, v in ref.items() if v}


def create_event(api, ns: str, involved_object: dict, reason: str, type: str = "Normal",
                 message: str = "", count: int = 1, *, name: str | None = None,
                 component: str = "kubelet", host: str | None = None,
                 first_timestamp: str | None = None, last_timestamp: str | None = None) -> dict:
    """Create a core/v1 Event as client-go's legacy recorder does (named
    ``<object>.<hex>``, with source, count and first/last timestamps)."""
    ref = object_ref(involved_object)
    ts = now()
    source = {"component": component, **({"host": host} if host else {})}
    body = {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": name or f"{ref['name']}.{secrets.token_hex(8)}", "namespace": ns},
        "involvedObject": ref, "reason": reason, "type": type, "message": message,
        "count": count, "source": source, "reportingComponent": component,
        "reportingInstance": host or "",
        "firstTimestamp": first_timestamp or ts, "lastTimestamp": last_timestamp or ts,
    }
    return request(api, "POST", f"/api/v1/namespaces/{ns}/events", body)


def bump_event(api, ns: str, name: str, *, message: str | None = None,
               last_timestamp: str | None = None) -> dict:
    """Record a repeat of an event as the recorder does: PATCH count+1, new lastTimestamp."""
    ev = request(api, "GET", f"/api/v1/namespaces/{ns}/events/{name}")
    patch: dict[str, Any] = {"count": int(ev.get("count") or 1) + 1,
                             "lastTimestamp": last_timestamp or now()}
    if message is not None:
        patch["message"] = message
    return request(api, "PATCH", f"/api/v1/namespaces/{ns}/events/{name}", patch,
                   content_type="application/strategic-merge-patch+json")


def _endpoints(endpoints: Iterable[tuple]) -> list[tuple[str, bool, Any, Any]]:
    """Normalize (ip[, ready[, node[, pod_name]]]) tuples: ready defaults to True."""
    defaults = (None, True, None, None)
    out = []
    for e in endpoints:
        ip, ready, node, pod = tuple(e) + defaults[len(e):]
        out.append((ip, bool(ready), node, pod))
    return out


def _target(ns: str, pod: str | None) -> dict:
    return {"targetRef": {"kind": "Pod", "namespace": ns, "name": pod}} if pod else {}


def apply_endpointslice(api, ns: str, service: str, endpoints: Iterable[tuple] = (), *,
                        name: str | None = None, port: int = 80, port_name: str = "http") -> dict:
    """Create or replace a discovery.k8s.io/v1 EndpointSlice of ``service`` like the
    EndpointSlice controller. ``endpoints``: (ip, ready, node, pod_name) tuples; the
    tail may be left off (ready=True, no node, no pod)."""
    eps = _endpoints(endpoints)
    name = name or service
    family = "IPv6" if any(":" in ip for ip, *_ in eps) else "IPv4"
    body = {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": name, "namespace": ns, "labels": {
            "kubernetes.io/service-name": service,
            "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
        "addressType": family,
        "ports": [{"name": port_name, "port": port, "protocol": "TCP"}],
        "endpoints": [
            {"addresses": [ip], "conditions": {"ready": ready, "serving": ready,
                                               "terminating": False},
             **({"nodeName": node} if node else {}), **_target(ns, pod)}
            for ip, ready, node, pod in eps],
    }
    return apply_object(api, f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices/{name}", body)


def apply_endpoints(api, ns: str, service: str, endpoints: Iterable[tuple] = (), *,
                    port: int = 80, port_name: str = "http") -> dict:
    """Create or replace the core/v1 Endpoints of ``service`` (deprecated API, still
    served): ready addresses vs notReadyAddresses, as the endpoints controller writes."""
    eps = _endpoints(endpoints)

    def addr(ip, node, pod):
        return {"ip": ip, **({"nodeName": node} if node else {}), **_target(ns, pod)}

    subset: dict[str, Any] = {"ports": [{"name": port_name, "port": port, "protocol": "TCP"}]}
    ready = [addr(ip, n, p) for ip, r, n, p in eps if r]
    not_ready = [addr(ip, n, p) for ip, r, n, p in eps if not r]
    if ready:
        subset["addresses"] = ready
    if not_ready:
        subset["notReadyAddresses"] = not_ready
    body = {"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": service, "namespace": ns},
            "subsets": [subset] if eps else []}
    return apply_object(api, f"/api/v1/namespaces/{ns}/endpoints/{service}", body)
