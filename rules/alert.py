"""The alert change: what the rules engine hands to notifiers, the outbox and the history.

This is the only type notifiers import from `rules`. It is a plain value: notifiers render it,
the outbox serialises it (`to_dict` / `from_dict`), Elasticsearch stores it. A value by
convention, not `frozen`: a frozen dataclass sets its 24 fields through `object.__setattr__`,
~1 µs per alert, and the engine builds one per transition. Nobody assigns to a field (checked
for the engine by `tests/rules/test_values.py`); `dataclasses.replace` makes a changed copy.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal, Mapping

AlertStatus = Literal["firing", "resolved"]


@dataclass(slots=True, unsafe_hash=True)
class Alert:
    """One transition of one incident: it started firing, fired again, or resolved."""

    rule: str
    key: str
    """Identifies the incident's subject within the rule (e.g. `prod/web/app` for a container,
    `prod/web` for a service): built from the rule's `group_by` fields."""
    status: AlertStatus
    severity: str
    sequence: int
    """Counts the notifications of one incident: 1 for the first firing, 2, 3 ... for reminders."""
    started_at: datetime
    """When the incident began (condition first true, or the detection itself)."""
    at: datetime
    """When this transition happened (equals `started_at` for a first firing)."""
    count: int
    """Matches folded into this incident so far."""
    cluster: str
    namespace: str
    kind: str
    """Kind of the object that triggered it: Pod, Event, EndpointSlice, Endpoints, Service."""
    name: str
    workload_kind: str
    workload_name: str
    summary: str
    """One plain line for logs, JSON output and fallbacks; templates build the real message."""
    description: str = ""
    fields: Mapping[str, Any] = field(default_factory=dict)
    """Template values: container, node, pod_ip, host_ip, exit_code, reason, message,
    restarts, memory_limit, ready, not_ready, terminating, total, unhealthy, addresses, ..."""
    object_labels: Mapping[str, str] = field(default_factory=dict)
    object_annotations: Mapping[str, str] = field(default_factory=dict)
    """The object's labels/annotations, so a notifier can find an owner to @mention."""
    notify: tuple[str, ...] = ()
    """Notifier names from the rule; empty means the config's default route."""
    templates: Mapping[str, str] = field(default_factory=dict)
    """Per-notifier template overrides from the rule (notifier name or type -> template text)."""
    detector: str = ""
    """The rule's detector type (`oom_killed`, `endpoints_unhealthy`, `any`, `frequency`): what
    kind of message this is, whatever the rule is called. Empty for alerts made by hand."""
    incident: str = ""
    """Identifies the occurrence, from the cluster's own data so that every replica, replay and
    restart derives the same value: an OOM's `finishedAt`, the resourceVersion of the change that
    started the condition. Empty only for alerts made by hand (samples, tests)."""
    title: str = ""
    """The rule's card title (its `title` key, e.g. 镜像拉取失败); empty: the card derives one."""

    @property
    def id(self) -> str:
        """Idempotency id: the same transition always gets the same id, across restarts,
        replays and replicas, so outbox, history and ES can refuse a second copy."""
        incident = self.incident or str(self.sequence)
        reminder = f"|{self.sequence}" if self.incident and self.status == "firing" and self.sequence > 1 else ""
        return f"{self.rule}|{self.key}|{incident}|{self.status}{reminder}"

    @property
    def workload(self) -> str:
        if self.workload_name:
            return f"{self.workload_kind}/{self.workload_name}"
        return f"{self.kind}/{self.name}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (datetimes as ISO 8601 strings, tuples as lists)."""
        d = asdict(self)
        d["started_at"] = self.started_at.isoformat()
        d["at"] = self.at.isoformat()
        d["notify"] = list(self.notify)
        d["fields"] = _jsonable(dict(self.fields))
        d["id"] = self.id
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Alert":
        data = {k: v for k, v in d.items() if k in _FIELD_NAMES}
        data["started_at"] = datetime.fromisoformat(d["started_at"])
        data["at"] = datetime.fromisoformat(d["at"])
        data["notify"] = tuple(d.get("notify") or ())
        return cls(**data)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


_FIELD_NAMES = frozenset(Alert.__dataclass_fields__)
