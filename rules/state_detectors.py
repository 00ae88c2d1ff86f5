"""The detectors that read the shared cluster state (rules/state.py) rather than one record:
`oom_killed` (a container's newest termination) and `endpoints_unhealthy` (a Service's ready
endpoints across all its slices). Both register themselves on import, as detectors.py's do;
rules/loader.py imports this module so that rule files can name them.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Mapping, Optional

from rules.detectors import Detection, when
from rules.model import EndpointAddress, Record, Termination
from rules.registry import Fail, register
from rules.state import Pods, ServiceEndpoints
from rules.views import container_fields

if TYPE_CHECKING:
    from rules.context import Context
    from rules.rule import Rule


@register(sources=("pod",), options=("reasons", "exit_codes"))
@dataclass
class OomKilledDetector:
    """A container's newest termination says OOMKilled (optionally: one of `exit_codes`).

    Exit 137 alone is not proof (a liveness-probe kill looks the same), so exit codes count only
    when the rule lists them. Which terminations are new comes from the shared cluster state
    (pod uid + container + finishedAt, else the container id): a status patch without a new
    termination never fires twice, and a rule added by a reload does not re-announce old ones.
    """

    reasons: frozenset[str] = frozenset({"OOMKilled"})
    exit_codes: frozenset[int] = frozenset()
    type = "oom_killed"
    instant = True
    counts_occurrences = False

    @classmethod
    def from_options(cls, spec: Mapping[str, Any], fail: Fail) -> "OomKilledDetector":
        reasons, codes = spec.get("reasons", ["OOMKilled"]), spec.get("exit_codes", [])
        if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
            fail("reasons", "`reasons` must be a list of termination reasons")
            reasons = []
        if not isinstance(codes, list) or not all(isinstance(c, int) and not isinstance(c, bool) for c in codes):
            fail("exit_codes", "`exit_codes` must be a list of whole numbers")
            codes = []
        return cls(reasons=frozenset(reasons), exit_codes=frozenset(codes))

    def observe(self, rule: Rule, record: Record, views: list[dict[str, Any]], now: datetime,
                ctx: Context) -> list[Detection]:
        pod = record.pod
        if pod is None or record.watch_type == "DELETED":
            return []
        ooms = [new for new in ctx.obs.terminations if self._is_oom(new.termination)]
        if not ooms:  # nearly every status update: no matched containers to collect
            return []
        wanted = {v["container"] for v in views}
        out = []
        for new in ooms:
            c, t = new.container, new.termination
            if c.name not in wanted:
                continue
            fields = {**container_fields(c), "pod": record.name, "node": pod.node, "pod_ip": pod.pod_ip,
                      "host_ip": pod.host_ip, "reason": t.reason, "exit_code": t.exit_code,
                      "restarts": c.restart_count, "finished_at": t.finished_at, "message": t.message}
            if ctx.state.services.known or len(ctx.state.services):
                # whether an endpoint drop (and its alert) may follow: inhibition waits for it only then
                fields["backs_service"] = ctx.state.services.backed_by(record.namespace, record.name)
            out.append(Detection(
                key=rule.key_for({**fields, **_ident_fields(record)}), incident=f"{record.uid}/{c.name}@{new.ident}",
                at=t.finished_at or when(record, now), record=record, fields=fields,
                summary=(f"{t.reason or 'exit'} {t.exit_code}: container {c.name} in pod "
                         f"{record.namespace}/{record.name} ({record.workload}), restarts {c.restart_count}, "
                         f"memory limit {c.memory_limit or 'none'}, node {pod.node or '?'}"),
            ))
        return out

    def expire(self, rule: Rule, now: datetime) -> list[Detection]:
        return []

    def _is_oom(self, t: Termination) -> bool:
        return t.reason in self.reasons or (t.exit_code is not None and t.exit_code in self.exit_codes)


def _ident_fields(record: Record) -> dict[str, Any]:
    return {"namespace": record.namespace, "name": record.name, "uid": record.uid, "cluster": record.cluster,
            "kind": record.kind, "workload": record.workload, "workload_kind": record.workload_kind,
            "workload_name": record.workload_name}


@register(sources=("endpoints",), options=("min_ready", "min_ready_ratio"))
@dataclass
class EndpointsUnhealthyDetector:
    """Ready endpoints of a Service fall below its total (or `min_ready` / `min_ready_ratio`).

    Counts come from the shared cluster state: one endpoint per pod across all of the Service's
    EndpointSlices and address families; terminating endpoints are left out of the total so a
    rolling update's old pods do not count as unhealthy. Where a Service has slices, its core/v1
    Endpoints records are ignored (they describe the same addresses).
    """

    min_ready: Optional[int] = None
    min_ready_ratio: Optional[float] = None
    type = "endpoints_unhealthy"
    instant = False
    counts_occurrences = False

    @classmethod
    def from_options(cls, spec: Mapping[str, Any], fail: Fail) -> "EndpointsUnhealthyDetector":
        min_ready, ratio = spec.get("min_ready"), spec.get("min_ready_ratio")
        if min_ready is not None and ratio is not None:
            fail("min_ready_ratio", "give `min_ready` or `min_ready_ratio`, not both")
        if min_ready is not None and (isinstance(min_ready, bool) or not isinstance(min_ready, int) or min_ready < 1):
            fail("min_ready", f"`min_ready` must be a whole number ≥ 1, got {min_ready!r}")
        if ratio is not None and (isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 < ratio <= 1):
            fail("min_ready_ratio", f"`min_ready_ratio` must be a number in (0, 1], got {ratio!r}")
        return cls(min_ready=min_ready, min_ready_ratio=ratio)

    def observe(self, rule: Rule, record: Record, views: list[dict[str, Any]], now: datetime,
                ctx: Context) -> list[Detection]:
        svc = ctx.obs.service
        if svc is None or not views or not ctx.obs.authoritative:
            return []
        return [self.judge(rule, record, views[0], svc, now, ctx)]

    def judge(self, rule: Rule, record: Record, view: Mapping[str, Any], svc: ServiceEndpoints, now: datetime,
              ctx: Context) -> Detection:
        """The detection for Service `svc` as it stands (also used to prime a new rule)."""
        ready, total = svc.ready, svc.total
        active = self._unhealthy(ready, total)
        at = when(record, now)
        return Detection(
            key=rule.key_for({**view, **svc.counts(), "service": svc.service}),
            incident=f"{svc.service}@{record.resource_version}", at=at, record=record,
            active=active, level=total - ready, kind="Service", name=svc.service,
            describe=lambda det: _unhealthy_detail(svc, active, at, ctx.pods),
        )

    def expire(self, rule: Rule, now: datetime) -> list[Detection]:
        return []

    def _unhealthy(self, ready: int, total: int) -> bool:
        if self.min_ready is not None:
            return ready < self.min_ready
        if self.min_ready_ratio is not None:
            return total > 0 and ready / total < self.min_ready_ratio
        return ready < total


def _unhealthy_detail(svc: ServiceEndpoints, active: bool, at: datetime, pods: "Pods") -> tuple[dict[str, Any], str]:
    """Fields and summary of an endpoints detection, built when its alert is: the Pod change
    that names the cause may reach us after the EndpointSlice change (two watches), and by
    the time `for` has passed it has."""
    ready, total, bad = svc.ready, svc.total, svc.unhealthy_addresses
    fields: dict[str, Any] = {
        "service": svc.service, **svc.counts(), "unhealthy": total - ready,
        "addresses": [_addr(a) for a in svc.addresses], "unhealthy_addresses": [_addr(a) for a in bad],
        "nodes": sorted({a.node for a in bad if a.node}),
    }
    node_ips = {n: pods.node_ips[n] for n in fields["nodes"] if n in pods.node_ips}
    if node_ips:
        fields["node_ips"] = node_ips
    cause = pods.cause(svc.namespace, [a.pod for a in bad if a.pod], at)
    if cause:
        # the workload of the pod that caused the drop: inhibition absorbs that workload's OOMs
        owner = pods.workload_of(svc.namespace, cause["pod"])
        fields["cause"] = {**cause, "workload": owner[1] if owner else cause["pod"]}
    summary = f"Service {svc.namespace}/{svc.service} {'unhealthy' if active else 'healthy'}: {ready}/{total} ready"
    if active and cause:
        summary += f" (pod {cause['pod']} {cause['reason']} exit {cause['exit_code']})"
    return fields, summary


def _addr(a: EndpointAddress) -> dict[str, Any]:
    return {"ip": a.ip, "ready": a.ready, "node": a.node, "pod": a.pod}
