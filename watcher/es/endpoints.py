"""Endpoint-health history: one document per change of a Service's endpoint counts.

A Service's endpoints are spread over several EndpointSlices (split by address family, at most
100 endpoints per slice by default; label `kubernetes.io/service-name`), so a single slice's
update says little on its own. The counts come from the rules' cluster state
(`rules.state.ServiceEndpoints`: one endpoint per pod across slices and address families), so a
document says what the `endpoints-unhealthy` alert says; this module only remembers the last
counts written per Service and emits a document when they change, with the transition
(`{"from": {...}, "to": {...}}`). Address churn with unchanged counts (a pod replaced by another)
is not a health change and writes nothing.

After a restart the memory is empty: the first record per Service emits `change: initial`; the
start-up LIST's records carry `listed: true`. The `_id` is the triggering object's uid and
resourceVersion, so a relist of unchanged slices re-emits the same ids and ES keeps one copy.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Optional

from rules.model import EndpointAddress, Record
from rules.state import ServiceEndpoints
from watcher.es.doc import Doc, common_fields
from watcher.es.templates import daily_index


@dataclass(frozen=True, slots=True)
class Counts:
    ready: int = 0
    not_ready: int = 0
    terminating: int = 0

    @property
    def total(self) -> int:
        """Ready + not ready, as the rules engine counts it: terminating endpoints are on their
        way out (a rolling update) and count separately."""
        return self.ready + self.not_ready

    def as_dict(self) -> dict[str, int]:
        return {"ready": self.ready, "not_ready": self.not_ready, "terminating": self.terminating, "total": self.total}


def count(addresses: list[EndpointAddress]) -> Counts:
    ready = sum(1 for a in addresses if a.ready and not a.terminating)
    terminating = sum(1 for a in addresses if a.terminating)
    return Counts(ready=ready, not_ready=len(addresses) - ready - terminating, terminating=terminating)


def change_kind(before: Optional[Counts], after: Counts, *, gone: bool) -> str:
    """`initial`, `deleted`, `degraded` (more not-ready), `improved` (fewer not-ready) or
    `scaled` (only ready/terminating moved: scale up/down, rolling update)."""
    if before is None:
        return "initial"
    if gone:
        return "deleted"
    if after.not_ready > before.not_ready:
        return "degraded"
    if after.not_ready < before.not_ready:
        return "improved"
    return "scaled"


class EndpointHealth:
    """The last counts written per Service. Not thread-safe (the Documenter locks)."""

    def __init__(self, *, prefix: str) -> None:
        self.prefix = prefix
        self._last: dict[tuple[str, str, str], Counts] = {}

    def __len__(self) -> int:
        return len(self._last)

    def observe(self, record: Record, service: ServiceEndpoints, *, now: datetime) -> list[Doc]:
        """`service`: the Service after `record` (from `rules.state`)."""
        key = (record.cluster, record.namespace, service.service)
        after = Counts(ready=service.ready, not_ready=service.not_ready, terminating=service.terminating)
        before = self._last.get(key)
        gone = service.objects == 0
        if gone:
            self._last.pop(key, None)
            if before is None:
                return []  # a deletion of something we never saw: nothing changed for us
        elif before == after:
            return []
        else:
            self._last[key] = after
        return [self._doc(record, service, before, after, gone, now)]

    def _doc(self, record: Record, service: ServiceEndpoints, before: Optional[Counts], after: Counts,
             gone: bool, now: datetime) -> Doc:
        when = record.timestamp or now
        src: dict[str, Any] = common_fields(record, when)
        src.update(
            service=service.service, source_kind=record.kind, slice=record.name,
            change=change_kind(before, after, gone=gone), healthy=after.not_ready == 0 and after.ready > 0,
            transition={"from": before.as_dict() if before else None, "to": after.as_dict()},
            addresses=[{"ip": a.ip, "node": a.node, "pod": a.pod, "ready": a.ready, "serving": a.serving,
                        "terminating": a.terminating} for a in service.addresses],
            **after.as_dict(),
        )
        ident = f"{record.cluster}/{record.namespace}/{service.service}/{record.uid or record.name}:{record.resource_version}"
        return Doc("endpoints", daily_index(self.prefix, "endpoints", when), ident, src)
