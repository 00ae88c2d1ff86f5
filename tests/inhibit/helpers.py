"""Alerts shaped like the engine's, for the inhibition tests (only what inhibition reads varies)."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

from rules.alert import Alert

T0 = datetime(2026, 11, 20, 2, 0, 0, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _alert(**kw: Any) -> Alert:
    base: dict[str, Any] = dict(status="firing", severity="critical", sequence=1, started_at=T0, at=T0, count=1,
                                cluster="test", namespace="shop", summary="s")
    base.update(kw)
    return Alert(**base)


def oom(pod: str = "web-1", *, workload: str = "web", ns: str = "shop", node: str = "node-1", t: float = 0,
        backs_service: bool | None = True, **fields: Any) -> Alert:
    """An OOM of a pod that is an endpoint of a Service (as the engine says when it has seen the
    Service's endpoints); `backs_service=None`: the engine has seen no Service."""
    if backs_service is not None:
        fields["backs_service"] = backs_service
    return _alert(rule="oom-killed", key=f"{ns}/{pod}/app", kind="Pod", name=pod, namespace=ns,
                  workload_kind="Deployment" if workload else "", workload_name=workload, detector="oom_killed",
                  incident=f"uid-{pod}/app@{t}", started_at=at(t), at=at(t),
                  fields={"pod": pod, "container": "app", "node": node, "reason": "OOMKilled", "exit_code": 137,
                          **fields})


def unhealthy(service: str = "web", *, ns: str = "shop", cause_workload: str | None = "web",
              nodes: tuple[str, ...] = ("node-1",), t: float = 30, status: str = "firing") -> Alert:
    fields: dict[str, Any] = {"service": service, "ready": 1, "total": 2, "unhealthy": 1, "nodes": list(nodes)}
    if cause_workload is not None:
        fields["cause"] = {"pod": f"{cause_workload}-1", "reason": "OOMKilled", "exit_code": 137,
                           "workload": cause_workload}
    return _alert(rule="endpoints-unhealthy", key=f"{ns}/{service}", kind="Service", name=service, namespace=ns,
                  workload_kind="Service", workload_name=service, detector="endpoints_unhealthy",
                  incident=f"{service}@100", started_at=at(t), at=at(t), status=status, fields=fields)


def node_not_ready(node: str = "node-1", *, t: float = 0) -> Alert:
    return _alert(rule="node-not-ready", key=node, kind="Event", name=f"{node}.1", namespace="default",
                  workload_kind="Node", workload_name=node, detector="any", incident=f"uid-{node}.1@5",
                  started_at=at(t), at=at(t), fields={"reason": "NodeNotReady", "node": "", "host": ""})


def resolved(alert: Alert, t: float) -> Alert:
    return replace(alert, status="resolved", at=at(t))


def event_on_pod(reason: str = "BackOff", *, node: str = "node-1", pod: str = "web-1", t: float = 0) -> Alert:
    return _alert(rule="crashloop-backoff", key=f"shop/{pod}", kind="Event", name=f"{pod}.17", workload_kind="Deployment",
                  workload_name="web", detector="any", incident=f"uid-{pod}.17@9", started_at=at(t), at=at(t),
                  fields={"reason": reason, "node": node, "host": node})
