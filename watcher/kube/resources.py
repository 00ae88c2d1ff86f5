"""What to watch, as data: one `ResourceSpec` per resource, and the per-object memory a watcher
keeps between a LIST and the next relist.

The watch loop (`watching.py`) is written once; a resource differs only in its API path, its
kind, whether the configured label selector applies, and what little it must remember to
build a DELETED record for an object that vanished while the watcher was disconnected.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Optional

from rules.model import SourceKind

_EMPTY: Mapping[str, str] = {}


def _no_extra(obj: Mapping[str, Any]) -> tuple:
    return ()


def _no_rebuild(stub: dict[str, Any], extra: tuple) -> None:
    return None


def _pod_containers(obj: Mapping[str, Any]) -> tuple:
    status = obj.get("status") or {}
    names = []
    for key in ("initContainerStatuses", "containerStatuses"):
        for cs in status.get(key) or ():
            if isinstance(cs, dict) and isinstance(cs.get("name"), str):
                names.append((key, sys.intern(cs["name"])))
    return tuple(names)


def _pod_rebuild(stub: dict[str, Any], extra: tuple) -> None:
    # The OOM detector forgets its per-container dedup state only for the containers a
    # DELETED record names: give it the names, nothing else.
    status: dict[str, list] = {}
    for key, name in extra:
        status.setdefault(key, []).append({"name": name})
    stub["status"] = status


@dataclass(frozen=True, slots=True)
class ResourceSpec:
    """One watchable resource."""

    name: str
    """Plural resource name: the `resource` label of metrics, and the thread name."""
    kind: SourceKind
    """The kind handed to the normaliser (LIST items carry no `kind`)."""
    api: str
    """`/api/v1` for the core group, `/apis/<group>/<version>` otherwise."""
    label_selector: bool = False
    """Whether the configured `kubernetes.label_selector` applies (Pods and Events, per the
    config's documentation; endpoints are selected by the rules instead)."""
    field_selector: str = ""
    """A fixed field selector for this resource, if any."""
    keep_labels: bool = True
    """Remember labels for DELETED stubs (rules that select by label must still see the
    deletion). Events are many and carry no labels worth keeping."""
    extra: Callable[[Mapping[str, Any]], tuple] = _no_extra
    """What else a DELETED stub needs, as a small tuple."""
    rebuild: Callable[[dict[str, Any], tuple], None] = _no_rebuild
    """Puts `extra` back into a stub object."""

    def path(self, namespace: Optional[str]) -> str:
        if namespace:
            return f"{self.api}/namespaces/{namespace}/{self.name}"
        return f"{self.api}/{self.name}"


EVENTS = ResourceSpec("events", "Event", "/api/v1", label_selector=True, keep_labels=False)
PODS = ResourceSpec("pods", "Pod", "/api/v1", label_selector=True, extra=_pod_containers, rebuild=_pod_rebuild)
ENDPOINT_SLICES = ResourceSpec("endpointslices", "EndpointSlice", "/apis/discovery.k8s.io/v1")
ENDPOINTS = ResourceSpec("endpoints", "Endpoints", "/api/v1")
SPECS = {s.name: s for s in (EVENTS, PODS, ENDPOINT_SLICES, ENDPOINTS)}


class KnownObjects:
    """uid -> (resourceVersion, namespace, name, labels, extra) for every object the watcher
    has announced: the state a relist is diffed against. Never whole objects."""

    __slots__ = ("spec", "_items")

    def __init__(self, spec: ResourceSpec) -> None:
        self.spec = spec
        self._items: dict[str, tuple[str, str, str, Mapping[str, str], tuple]] = {}

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, uid: str) -> bool:
        return uid in self._items

    def uids(self) -> Iterator[str]:
        return iter(list(self._items))

    def rv(self, uid: str) -> Optional[str]:
        item = self._items.get(uid)
        return item[0] if item else None

    def remember(self, uid: str, rv: str, obj: Mapping[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        labels = meta.get("labels") if self.spec.keep_labels else None
        self._items[uid] = (
            rv,
            sys.intern(str(meta.get("namespace") or "")),
            str(meta.get("name") or ""),
            labels if isinstance(labels, dict) and labels else _EMPTY,
            self.spec.extra(obj),
        )

    def forget(self, uid: str) -> None:
        self._items.pop(uid, None)

    def stub(self, uid: str) -> dict[str, Any]:
        """The smallest object the normaliser turns into a DELETED record for `uid`."""
        rv, namespace, name, labels, extra = self._items[uid]
        meta: dict[str, Any] = {"name": name, "uid": uid, "resourceVersion": rv}
        if namespace:
            meta["namespace"] = namespace
        if labels:
            meta["labels"] = dict(labels)
        stub: dict[str, Any] = {"kind": self.spec.kind, "metadata": meta}
        self.spec.rebuild(stub, extra)
        return stub


class ListDiff:
    """One LIST pass against `KnownObjects`: which listed objects are new or changed, and which
    known objects the list no longer holds (deleted while we were not watching)."""

    __slots__ = ("known", "seen", "unchanged")

    def __init__(self, known: KnownObjects) -> None:
        self.known = known
        self.seen: set[str] = set()
        self.unchanged = 0

    def change(self, uid: str, rv: str) -> Optional[str]:
        """`ADDED`, `MODIFIED`, or None when we already announced this exact version."""
        self.seen.add(uid)
        before = self.known.rv(uid)
        if before is None:
            return "ADDED"
        # resourceVersions are opaque: equality is the only valid comparison (API concepts).
        if before != rv:
            return "MODIFIED"
        self.unchanged += 1
        return None

    def gone(self) -> list[str]:
        return [uid for uid in self.known.uids() if uid not in self.seen]
