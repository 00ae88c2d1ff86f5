"""Flat field views of a record: what `match`, `group_by` and templates address by name.

A Pod yields one view per container (a rule about containers matches any of them and alerts per
container); every other record yields one view. Field names are documented in the README's rule
reference and listed in `FIELDS` so the loader can reject a misspelt field.
"""
from __future__ import annotations

from typing import Any, Optional

from rules.model import ContainerInfo, PodInfo, Record
from rules.state import Observation

COMMON_FIELDS = frozenset(
    {"cluster", "kind", "watch_type", "namespace", "name", "uid", "workload", "workload_kind", "workload_name"}
)
FIELDS: dict[str, frozenset[str]] = {
    "event": COMMON_FIELDS
    | {"reason", "type", "message", "count", "involved_kind", "involved_name", "involved_namespace",
       "component", "host", "node"},
    "pod": COMMON_FIELDS
    | {"pod", "node", "phase", "pod_ip", "host_ip", "container", "init", "restart_count", "ready",
       "state", "waiting_reason", "reason", "exit_code", "last_reason", "last_exit_code", "memory_limit"},
    "endpoints": COMMON_FIELDS | {"service", "ready", "not_ready", "terminating", "total"},
}


def views(record: Record, obs: Optional[Observation] = None) -> list[dict[str, Any]]:
    """The flat views of one record, built once per record and shared by every rule. With the
    record's `Observation`, an endpoints record's counts are its Service's (all slices and
    address families), not the one slice's."""
    e = record.event
    if e is not None:  # most records: one literal, not the common part updated
        kind, name, workload_kind, workload_name = record.kind, record.name, record.workload_kind, record.workload_name
        return [{
            "cluster": record.cluster, "kind": kind, "watch_type": record.watch_type, "namespace": record.namespace,
            "name": name, "uid": record.uid,
            # `Record.workload`, without the property call
            "workload": f"{workload_kind}/{workload_name}" if workload_name else f"{kind}/{name}",
            "workload_kind": workload_kind or kind, "workload_name": workload_name or name,
            "reason": e.reason, "type": e.type, "message": e.message, "count": e.count,
            "involved_kind": e.involved_kind, "involved_name": e.involved_name,
            "involved_namespace": e.involved_namespace, "component": e.component, "host": e.host, "node": e.host,
        }]
    p = record.pod
    if p is not None:
        return _pod_views(record, p)
    base = _common(record)
    ep = record.endpoints
    if ep is not None:
        svc = obs.service if obs is not None else None
        if svc is not None:
            base.update(service=ep.service, ready=svc.ready, not_ready=svc.not_ready, terminating=svc.terminating,
                        total=svc.total)
        else:
            base.update(service=ep.service, ready=ep.ready, not_ready=ep.not_ready, terminating=ep.terminating,
                        total=ep.ready + ep.not_ready)
        return [base]
    return []


def _pod_views(record: Record, p: PodInfo) -> list[dict[str, Any]]:
    """One dict per container, built in one go: the keys in the order of `_common`, the pod's,
    then `container_fields` (as merging those three gave, a third of the cost)."""
    kind, name, workload_kind, workload_name = record.kind, record.name, record.workload_kind, record.workload_name
    cluster, watch_type, namespace, uid = record.cluster, record.watch_type, record.namespace, record.uid
    workload = f"{workload_kind}/{workload_name}" if workload_name else f"{kind}/{name}"
    node, phase, pod_ip, host_ip = p.node, p.phase, p.pod_ip, p.host_ip
    out = []
    for c in p.containers:
        last = c.last_terminated
        newest = c.terminated or last
        out.append({
            "cluster": cluster, "kind": kind, "watch_type": watch_type, "namespace": namespace, "name": name,
            "uid": uid, "workload": workload, "workload_kind": workload_kind or kind,
            "workload_name": workload_name or name,
            "pod": name, "node": node, "phase": phase, "pod_ip": pod_ip, "host_ip": host_ip,
            "container": c.name, "init": c.init, "restart_count": c.restart_count, "ready": c.ready,
            "state": c.state, "waiting_reason": c.waiting_reason,
            "reason": newest.reason if newest else "", "exit_code": newest.exit_code if newest else None,
            "last_reason": last.reason if last else "", "last_exit_code": last.exit_code if last else None,
            "memory_limit": c.memory_limit,
        })
    return out


def _common(record: Record) -> dict[str, Any]:
    kind, name, workload_name = record.kind, record.name, record.workload_name
    return {
        "cluster": record.cluster,
        "kind": kind,
        "watch_type": record.watch_type,
        "namespace": record.namespace,
        "name": name,
        "uid": record.uid,
        "workload": record.workload,
        "workload_kind": record.workload_kind or kind,
        "workload_name": workload_name or name,
    }


def container_fields(c: ContainerInfo) -> dict[str, Any]:
    """`reason` / `exit_code` describe the newest termination: the current one if the container
    is terminated now, else `lastState` (where a restarted container's OOMKilled shows)."""
    last = c.last_terminated
    newest = c.terminated or last
    return {
        "container": c.name,
        "init": c.init,
        "restart_count": c.restart_count,
        "ready": c.ready,
        "state": c.state,
        "waiting_reason": c.waiting_reason,
        "reason": newest.reason if newest else "",
        "exit_code": newest.exit_code if newest else None,
        "last_reason": last.reason if last else "",
        "last_exit_code": last.exit_code if last else None,
        "memory_limit": c.memory_limit,
    }
