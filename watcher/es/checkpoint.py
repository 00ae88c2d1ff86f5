"""The checkpoint in Elasticsearch: one document per cluster in `<prefix>-state`.

The local file (watcher/checkpoint.py) is lost with an emptyDir when a pod moves; this copy lets a
leader on another node start from where the last one stopped. Only the leader writes it.

Writes happen on a thread of their own and keep only the newest checkpoint: the pipeline never
waits for Elasticsearch, and an outage costs nothing but the writes it missed. The index is
created with an explicit mapping before the first write (the snapshot is stored, not indexed),
so a write can never auto-create it with a dynamic mapping.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Optional

from elastic_transport import TransportError
from elasticsearch import ApiError, NotFoundError

from watcher.checkpoint import Checkpoint

log = logging.getLogger("kea.es")

MAPPINGS = {"dynamic": False, "properties": {
    "cluster": {"type": "keyword"},
    "watched_until": {"type": "date"},
    "snapshot": {"type": "object", "enabled": False},
}}


def state_index(prefix: str) -> str:
    return f"{prefix}-state"


class EsCheckpoints:
    def __init__(self, client: Any, *, prefix: str) -> None:
        self.client = client.options(max_retries=0)
        self.index = state_index(prefix)
        self._ready = False
        self._latest: Optional[Checkpoint] = None
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="es-checkpoint", daemon=True)
        self.failures = 0

    def load(self, cluster: str) -> Optional[Checkpoint]:
        """The stored checkpoint of `cluster`, or None (none stored, or Elasticsearch unreachable:
        logged, and the local checkpoint alone decides)."""
        try:
            doc = self.client.get(index=self.index, id=cluster)
            return Checkpoint.from_json(doc["_source"])
        except NotFoundError:
            return None
        except (TransportError, ApiError) as exc:
            log.warning("could not read the checkpoint from Elasticsearch (%s); using the local one",
                        exc.__class__.__name__)
        except (KeyError, TypeError, ValueError) as exc:
            log.error("checkpoint in %s unreadable (%s): ignored", self.index, exc)
        return None

    def save(self, cp: Checkpoint) -> None:
        """Queue `cp` (replacing one not yet written); never blocks."""
        with self._cond:
            self._latest = cp
            self._cond.notify()
        if self._thread.ident is None:
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread.ident is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._latest is None and not self._stopping:
                    self._cond.wait()
                cp, self._latest = self._latest, None
                stopping = self._stopping
            if cp is not None:
                self._write(cp)
            if stopping:
                return

    def _write(self, cp: Checkpoint) -> None:
        try:
            if not self._ready:
                self.client.options(ignore_status=400).indices.create(index=self.index, mappings=MAPPINGS)
                self._ready = True
            self.client.index(index=self.index, id=cp.cluster, document={
                "cluster": cp.cluster, "watched_until": cp.watched_until.isoformat(), "snapshot": cp.snapshot})
            self.failures = 0
        except (TransportError, ApiError) as exc:
            self.failures += 1
            if self.failures == 1:
                log.warning("could not write the checkpoint to Elasticsearch (%s); will retry with the next",
                            exc.__class__.__name__)
