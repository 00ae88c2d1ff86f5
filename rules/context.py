"""Per-engine facts shared by all rules: event occurrence counting, a small pod index for
correlating an endpoint drop with its cause, and the stale-history cutoff."""
from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from typing import Any, Optional

from rules.model import Record

#: Bound on remembered Event counts (uid -> count); the oldest are forgotten first.
MAX_EVENTS = 200_000
#: Bound on pods remembered for cause correlation.
MAX_PODS = 100_000


class PodIndex:
    """Newest container termination per pod, so an endpoint alert can say *why* a pod went
    unready (`OOMKilled`, exit 137) and on which node. Only pods that terminated are kept."""

    def __init__(self) -> None:
        self._last: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
        self.node_ips: dict[str, str] = {}
        """Node name -> host IP, learned from Pod status (EndpointSlices name only the node)."""

    def observe(self, record: Record) -> None:
        if record.pod is None:
            return
        pod = record.pod
        if pod.node and pod.host_ip and self.node_ips.get(pod.node) != pod.host_ip and len(self.node_ips) < 20_000:
            self.node_ips[pod.node] = pod.host_ip
        key = (record.namespace, record.name)
        if record.watch_type == "DELETED":
            self._last.pop(key, None)
            return
        newest: Optional[dict[str, Any]] = None
        for c in record.pod.containers:
            for t in (c.terminated, c.last_terminated):
                if t is None or t.finished_at is None:
                    continue
                if newest is None or t.finished_at > newest["finished_at"]:
                    newest = {"pod": record.name, "container": c.name, "reason": t.reason,
                              "exit_code": t.exit_code, "finished_at": t.finished_at,
                              "node": record.pod.node, "restarts": c.restart_count,
                              "memory_limit": c.memory_limit}
        if newest is not None:
            self._last[key] = newest
            self._last.move_to_end(key)
            if len(self._last) > MAX_PODS:
                self._last.popitem(last=False)

    def cause(self, namespace: str, pods: list[str]) -> Optional[dict[str, Any]]:
        found = [self._last[(namespace, p)] for p in pods if (namespace, p) in self._last]
        return max(found, key=lambda c: c["finished_at"]) if found else None


class Context:
    def __init__(self, stale_before: datetime) -> None:
        self.stale_before = stale_before
        self.pods = PodIndex()
        self.occurrences = 0
        """How many occurrences the current record stands for: an Event's count increase since
        it was last seen (client-go's recorder bumps `count` on repeats), 1 for other changes,
        0 for a DELETED object."""
        self._event_counts: OrderedDict[str, int] = OrderedDict()

    def begin(self, record: Record) -> None:
        self.pods.observe(record)
        if record.watch_type == "DELETED":
            self.occurrences = 0
            if record.event is not None:
                self._event_counts.pop(record.uid, None)
            return
        if record.event is None:
            self.occurrences = 1
            return
        known = self._event_counts.get(record.uid)
        count = record.event.count or 1
        self.occurrences = 1 if known is None else max(0, count - known)
        self._event_counts[record.uid] = count
        self._event_counts.move_to_end(record.uid)
        if len(self._event_counts) > MAX_EVENTS:
            self._event_counts.popitem(last=False)
