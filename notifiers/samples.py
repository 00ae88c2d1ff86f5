"""Sample alerts shaped like the built-in rules' output, for `notify test` and the preview."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from rules.alert import Alert

from .clock import utcnow

_POD = "order-api-7d9f8b6c5-x2k4p"
_NODE = "10.0.3.17"


def sample_alert(kind: Literal["oom", "unhealthy"] = "oom", *, now: datetime | None = None,
                 status: Literal["firing", "resolved"] = "firing") -> Alert:
    """A realistic alert: an OOMKilled container, or a Service with 1 of 2 endpoints unready."""
    now = now or utcnow()
    started = now - timedelta(minutes=12) if status == "resolved" else now
    finished = (started - timedelta(seconds=4)).isoformat()
    if kind == "oom":
        return Alert(
            rule="oom-killed", key=f"shop/{_POD}/app", kind="Pod", name=_POD,
            workload_kind="Deployment", workload_name="order-api",
            summary=f"container app of shop/{_POD} was OOMKilled (exit code 137)",
            description="容器因超出内存限制被内核终止 (OOMKilled)",
            fields={"container": "app", "pod": _POD, "node": _NODE, "pod_ip": "172.20.3.41",
                    "host_ip": _NODE, "exit_code": 137, "reason": "OOMKilled", "restarts": 3,
                    "memory_limit": "512Mi", "finished_at": finished, "message": ""},
            **_common(status, started, now))
    if kind == "unhealthy":
        bad = {"ip": "172.20.3.41", "ready": False, "node": _NODE, "pod": _POD}
        good = {"ip": "172.20.5.12", "ready": True, "node": "10.0.5.22",
                "pod": "order-api-7d9f8b6c5-m8q2z"}
        return Alert(
            rule="endpoints-unhealthy", key="shop/order-api", kind="Service", name="order-api",
            workload_kind="Service", workload_name="order-api",
            summary="service shop/order-api: 1 of 2 endpoints not ready",
            description="应用可用实例数下降",
            fields={"service": "order-api", "ready": 1, "not_ready": 1, "terminating": 0,
                    "total": 2, "unhealthy": 1, "addresses": [good, bad],
                    "unhealthy_addresses": [bad], "nodes": [_NODE],
                    "cause": {"pod": _POD, "container": "app", "reason": "OOMKilled",
                              "exit_code": 137, "finished_at": finished, "node": _NODE}},
            **_common(status, started, now))
    raise ValueError(f"unknown sample kind {kind!r} (oom or unhealthy)")


def _common(status: Literal["firing", "resolved"], started: datetime,
            now: datetime) -> dict[str, Any]:
    """The fields both samples share (as keyword arguments of Alert)."""
    return dict(status=status, severity="critical", sequence=1, started_at=started, at=now,
                count=1, cluster="prod-sh", namespace="shop",
                object_labels={"app": "order-api", "owner": "zhangsan"})
