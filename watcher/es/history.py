"""Alert history in `<prefix>-alerts`: one document per (alert transition, notifier).

It is the memory that outlives the process: at start-up (or when a replica becomes leader) the
open incidents are read back and restored into the engine, so a restarted daemon neither
re-sends a firing alert nor forgets to resolve it; `delivered_ids` lets a new leader skip what
the old one already delivered; `digest` feeds the daily summary.

`_id` = `alert.id|notifier`: retries of one delivery overwrite their own document. Writes use an
external version (microseconds of `delivered_at`, strictly increasing within a process), so a
stale state replayed from the spool ("pending") can never overwrite a newer one ("sent"): ES
answers 409, which counts as success.
"""
from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any, Callable, Iterator, Optional

from notifiers.clock import utcnow
from elastic_transport import TransportError
from elasticsearch import ApiError, ConflictError

from rules.alert import Alert
from watcher.es.bulk import describe_error
from watcher.es.doc import Doc
from watcher.es.templates import alerts_index, alias

log = logging.getLogger("kea.es")

RESULTS = ("sent", "failed", "dropped", "pending", "silenced", "inhibited", "skipped")
_PAGE = 500




def _identity(text: str) -> str:
    return text


def _default_redact() -> Callable[[str], str]:
    try:  # the notifiers' redaction knows webhook URL shapes and registered secrets
        from notifiers.redact import redact
        return redact
    except ImportError:  # pragma: no cover
        return _identity


def incident_key(alert: Alert) -> str:
    """Groups every notification of one incident (firing, reminders, resolved)."""
    return f"{alert.rule}|{alert.key}|{alert.incident}"


def alert_source(alert: Alert, *, notifier: str, result: str, code: str, detail: str,
                 delivered_at: datetime) -> dict[str, Any]:
    """The stored document: `Alert.to_dict()` at the top level (so `Alert.from_dict` rebuilds
    it from `_source`) plus the delivery."""
    src = alert.to_dict()
    src["alert_id"] = src.pop("id")
    src.update({
        "@timestamp": alert.at.isoformat(),
        "incident_key": incident_key(alert),
        "workload": alert.workload,
        "notifier": notifier,
        "delivery_id": f"{alert.id}|{notifier}",
        "result": result,
        "code": code,
        "detail": detail,
        "delivered_at": delivered_at.isoformat(),
    })
    return src


class AlertHistory:
    def __init__(self, client: Any, *, prefix: str, clock: Callable[[], datetime] = utcnow,
                 sink: Any = None, redact: Optional[Callable[[str], str]] = None) -> None:
        """`sink`: an `EsSink` that takes a write Elasticsearch refused to answer (it spools and
        replays it); without it such a write is logged and lost. `redact` scrubs `detail`
        (delivery errors quote webhook URLs, whose query *is* the robot's key)."""
        self.client = client
        self.prefix = prefix
        self.index = alerts_index(prefix)
        self.clock = clock
        self.sink = sink
        self.redact = redact or _default_redact()
        self._version = 0
        self._lock = threading.Lock()

    # -- writing

    def record(self, alert: Alert, *, notifier: str, result: str, code: str = "", detail: str = "") -> bool:
        """Store one delivery outcome. True when Elasticsearch has it; False when it went to the
        sink's spool (or was lost without a sink). Never raises for ES trouble."""
        if result not in RESULTS:
            raise ValueError(f"result must be one of {RESULTS}, got {result!r}")
        doc = self.doc(alert, notifier=notifier, result=result, code=code, detail=detail)
        try:
            self.client.index(index=doc.index, id=doc.id, document=doc.source, version=doc.version,
                              version_type="external")
            return True
        except ConflictError:
            return True  # a newer outcome for this delivery is already stored
        except (TransportError, ApiError) as exc:
            err = describe_error(exc)
        if self.sink is not None:
            log.warning("alert history write failed (%s); queued for retry: %s", err, doc.id)
            self.sink.put_docs([doc])
        else:
            log.error("alert history write failed (%s); not stored: %s", err, doc.id)
        return False

    def doc(self, alert: Alert, *, notifier: str, result: str, code: str = "", detail: str = "") -> Doc:
        now = self.clock()
        with self._lock:
            self._version = max(self._version + 1, int(now.timestamp() * 1_000_000))
            version = self._version
        src = alert_source(alert, notifier=notifier, result=result, code=self.redact(code)[:200],
                           detail=self.redact(detail)[:2000], delivered_at=now)
        return Doc("alerts", self.index, src["delivery_id"], src, op="index", version=version)

    # -- reading

    def open_incidents(self, cluster: str) -> list[Alert]:
        """Incidents of `cluster` with a firing notification and no resolved one, each as its
        latest firing alert (highest sequence), ready for `Engine.restore`."""
        try:  # see writes of the last second too; a key without the privilege just skips it
            self.client.options(ignore_status=(403, 404)).indices.refresh(index=self.index)
        except TransportError:
            pass  # unreachable: the search below raises for the caller
        aggs = {
            "resolved": {"filter": {"term": {"status": "resolved"}}},
            "firing": {"filter": {"term": {"status": "firing"}}, "aggs": {"latest": {"top_hits": {
                "size": 1, "sort": [{"sequence": "desc"}, {"at": "desc"}, {"delivered_at": "desc"}]}}}},
        }
        out = []
        for bucket in self._composite("incident_key", {"term": {"cluster": cluster}}, aggs):
            if bucket["resolved"]["doc_count"] or not bucket["firing"]["doc_count"]:
                continue
            hit = bucket["firing"]["latest"]["hits"]["hits"][0]["_source"]
            try:
                out.append(Alert.from_dict(hit))
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("alert history: cannot rebuild %s (%s)", hit.get("alert_id"), exc)
        return out

    def delivered_ids(self, since: datetime, *, cluster: str = "", per_notifier: bool = False) -> set[str]:
        """Alert ids (or `alert_id|notifier` with `per_notifier`) delivered since `since`."""
        filters: list[dict] = [{"term": {"result": "sent"}}, {"range": {"delivered_at": {"gte": since.isoformat()}}}]
        if cluster:
            filters.append({"term": {"cluster": cluster}})
        field = "delivery_id" if per_notifier else "alert_id"
        return {b["key"][field] for b in self._composite(field, {"bool": {"filter": filters}}, {})}

    def digest(self, cluster: str, since: datetime, *, until: Optional[datetime] = None, top: int = 10) -> dict[str, Any]:
        """Counts for the daily digest: incidents (first firing notifications) by rule, namespace
        and severity, resolved count, and the top Warning reasons from the events indices."""
        until = until or self.clock()
        window = {"range": {"at": {"gte": since.isoformat(), "lt": until.isoformat()}}}
        distinct = {"n": {"cardinality": {"field": "alert_id", "precision_threshold": 40000}}}

        def terms(field: str) -> dict:
            return {"terms": {"field": field, "size": 1000}, "aggs": distinct}

        res = self.client.search(index=self.index, size=0, ignore_unavailable=True, query={"bool": {"filter": [
            {"term": {"cluster": cluster}}, window]}}, aggs={
            "new": {"filter": {"bool": {"filter": [{"term": {"status": "firing"}}, {"term": {"sequence": 1}}]}},
                    "aggs": {**distinct, "rule": terms("rule"), "namespace": terms("namespace"),
                             "severity": terms("severity")}},
            "resolved": {"filter": {"term": {"status": "resolved"}}, "aggs": distinct},
            "failed": {"filter": {"term": {"result": "failed"}}, "aggs": distinct},
        })
        a = res.get("aggregations") or {}
        new = a.get("new", {})

        def by(name: str) -> dict[str, int]:
            return {b["key"]: b["n"]["value"] for b in new.get(name, {}).get("buckets", [])}

        events = self.client.search(index=f"{alias(self.prefix, 'events')}-*", size=0, ignore_unavailable=True,
                                    allow_no_indices=True, track_total_hits=True, query={"bool": {"filter": [
                                        {"term": {"cluster": cluster}}, {"term": {"type": "Warning"}},
                                        {"range": {"@timestamp": {"gte": since.isoformat(), "lt": until.isoformat()}}}]}},
                                    aggs={"reasons": {"terms": {"field": "reason", "size": top}}})
        ev = events.get("aggregations") or {}
        return {
            "cluster": cluster, "since": since.isoformat(), "until": until.isoformat(),
            "incidents": new.get("n", {}).get("value", 0),
            "resolved": a.get("resolved", {}).get("n", {}).get("value", 0),
            "failed_deliveries": a.get("failed", {}).get("n", {}).get("value", 0),
            "by_rule": by("rule"), "by_namespace": by("namespace"), "by_severity": by("severity"),
            "warning_events": events["hits"]["total"]["value"],
            "top_warning_reasons": [{"reason": b["key"], "count": b["doc_count"]}
                                    for b in ev.get("reasons", {}).get("buckets", [])],
        }

    def _composite(self, field: str, query: dict, aggs: dict) -> Iterator[dict]:
        """Every bucket of a terms-like grouping, page by page (no painless on some clusters,
        so filtering happens here, not in a bucket_selector)."""
        after: Optional[dict] = None
        while True:
            comp: dict[str, Any] = {"size": _PAGE, "sources": [{field: {"terms": {"field": field}}}]}
            if after:
                comp["after"] = after
            body: dict[str, Any] = {"composite": comp}
            if aggs:
                body["aggs"] = aggs
            res = self.client.search(index=self.index, size=0, query=query, aggs={"g": body},
                                     ignore_unavailable=True)
            g = (res.get("aggregations") or {}).get("g") or {}
            buckets = g.get("buckets") or []
            yield from buckets
            after = g.get("after_key")
            if not buckets or after is None:
                return
