"""`Doc`: one document on its way to Elasticsearch, in memory or as one spool line."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Optional

import orjson

from rules.model import Record


@dataclass(frozen=True, slots=True)
class Doc:
    """One document to write: where, under which `_id`, how (`create` refuses a second copy,
    `index` with an external `version` lets only a newer state overwrite)."""

    kind: str
    """`events`, `endpoints`, `terminations` or `alerts`: the `index_kind` in metrics."""
    index: str
    id: str
    source: dict[str, Any]
    op: str = "create"
    version: Optional[int] = None

    def action(self) -> dict[str, Any]:
        """The action dict `elasticsearch.helpers.streaming_bulk` expects."""
        action: dict[str, Any] = {"_op_type": self.op, "_index": self.index, "_id": self.id, "_source": self.source}
        if self.version is not None:
            action["version"] = self.version
            action["version_type"] = "external"
        return action

    def to_line(self) -> bytes:
        """One spool line (JSON + newline)."""
        return orjson.dumps({"k": self.kind, "i": self.index, "d": self.id, "o": self.op,
                             "v": self.version, "s": self.source}) + b"\n"

    @classmethod
    def from_line(cls, line: bytes) -> "Doc":
        """Raises ValueError (or KeyError/TypeError) on a damaged line."""
        d = orjson.loads(line)
        return cls(kind=d["k"], index=d["i"], id=d["d"], source=d["s"], op=d["o"], version=d["v"])


def iso(when: Optional[datetime]) -> Optional[str]:
    return when.isoformat() if when is not None else None


def common_fields(record: Record, when: datetime) -> dict[str, Any]:
    return {
        "@timestamp": when.isoformat(),
        "cluster": record.cluster,
        "namespace": record.namespace,
        "labels": dict(record.labels),
        "annotations": dict(record.annotations),
        "listed": record.listed,
        "watch_type": record.watch_type,
        "resource_version": record.resource_version,
    }
