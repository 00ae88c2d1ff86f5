"""The two answers to a `Query`: Elasticsearch's daily indices, or the embedded SQLite file.

Both return the documents as stored (`_source`, plus their `_id`), newest first, with the same
filters, word matching, tie-breaking and (for events) one row per Event; `watcher/search/query.py`
defines what each means and tests/search runs the same cases against both.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, Optional, Protocol

import orjson

from watcher.search.query import TEXT_FIELDS, TIEBREAK, Query


class StoreError(RuntimeError):
    """The history cannot be searched (no file, Elasticsearch unreachable): says why, no secret."""


class HistoryStore(Protocol):
    def search(self, query: Query) -> list[dict[str, Any]]: ...

    def get(self, kind: str, doc_id: str) -> Optional[dict[str, Any]]: ...


def _order(kind: str) -> list[str]:
    """Sort fields after `@timestamp` desc: an Event's newest count first, then the tiebreak."""
    return (["count"] if kind == "events" else []) + [TIEBREAK[kind]]


class SqliteSearch:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise StoreError(f"no local history at {self.path}: the daemon keeps it there while Elasticsearch "
                             "is not configured (local_history.enabled)")
        try:
            self.conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30.0)
            self.conn.execute("SELECT 1 FROM docs LIMIT 1")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the local history {self.path}: {exc}") from None

    def search(self, query: Query) -> list[dict[str, Any]]:
        where: list[str] = ["kind = ?"]
        params: list[str | float] = [query.kind]
        if query.start is not None:
            where.append("ts >= ?")
            params.append(query.start.timestamp())
        if query.end is not None:
            where.append("ts <= ?")
            params.append(query.end.timestamp())
        for name, value in query.filters():
            where.append(f"json_extract(source, '$.\"{name}\"') = ?")  # names: fixed identifiers from Query
            params.append(value)
        for word in query.words:
            where.append("instr(text, ?) > 0")
            params.append(word.lower())
        order = "ts DESC, count DESC, tiebreak DESC" if query.kind == "events" else "ts DESC, tiebreak DESC"
        sql = f"SELECT id, source, group_key FROM docs WHERE {' AND '.join(where)} ORDER BY {order}"
        try:
            rows = self._newest_per_group(self.conn.execute(sql, params), query) if query.kind == "events" \
                else self.conn.execute(sql + " LIMIT ?", (*params, query.limit)).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot search the local history {self.path}: {exc}") from None
        return [{**orjson.loads(row[1]), "_id": row[0]} for row in rows]

    @staticmethod
    def _newest_per_group(cursor: sqlite3.Cursor, query: Query) -> list[tuple]:
        """One row per Event, as Elasticsearch's `collapse` gives it: walking the documents in
        the result order, an Event's first document is its newest; stop at `limit` Events (the
        time index makes that a short walk for the usual searches)."""
        seen: set[Any] = set()
        out: list[tuple] = []
        while len(out) < query.limit:
            batch = cursor.fetchmany(500)
            if not batch:
                break
            for row in batch:
                if row[2] not in seen:
                    seen.add(row[2])
                    out.append(row)
                    if len(out) == query.limit:
                        break
        return out

    def get(self, kind: str, doc_id: str) -> Optional[dict[str, Any]]:
        row = self.conn.execute("SELECT source FROM docs WHERE kind = ? AND id = ?", (kind, doc_id)).fetchone()
        return {**orjson.loads(row[0]), "_id": doc_id} if row else None


class EsSearch:
    def __init__(self, client: Any, *, prefix: str) -> None:
        self.client, self.prefix = client, prefix

    def search(self, query: Query) -> list[dict[str, Any]]:
        body: dict[str, Any] = {
            "query": {"bool": {"filter": self._filters(query)}},
            "sort": [{"@timestamp": {"order": "desc"}}] + [{f: {"order": "desc"}} for f in _order(query.kind)],
            "size": query.limit,
            "track_total_hits": False,
        }
        if query.kind == "events":
            body["collapse"] = {"field": "event_uid"}
        hits = self._search(query.kind, body)
        return [{**h["_source"], "_id": h["_id"]} for h in hits]

    def get(self, kind: str, doc_id: str) -> Optional[dict[str, Any]]:
        hits = self._search(kind, {"query": {"ids": {"values": [doc_id]}}, "size": 1})
        return {**hits[0]["_source"], "_id": hits[0]["_id"]} if hits else None

    def _filters(self, query: Query) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = [{"term": {name: value}} for name, value in query.filters()]
        span = {k: v.isoformat() for k, v in (("gte", query.start), ("lte", query.end)) if v is not None}
        if span:
            out.append({"range": {"@timestamp": span}})
        for word in query.words:
            pattern = "*" + "".join("\\" + ch if ch in "*?\\" else ch for ch in word) + "*"
            out.append({"bool": {"minimum_should_match": 1, "should": [
                {"wildcard": {_keyword(f): {"value": pattern, "case_insensitive": True}}}
                for f in TEXT_FIELDS[query.kind]]}})
        return out

    def _search(self, kind: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        try:
            resp = self.client.search(index=f"{self.prefix}-{kind}-*", ignore_unavailable=True,
                                      allow_no_indices=True, **body)
        except Exception as exc:  # transport or API error: name it, never the URL (credentials)
            raise StoreError(f"cannot search Elasticsearch ({type(exc).__name__}: {_status(exc)})") from None
        return resp["hits"]["hits"]


def _keyword(name: str) -> str:
    """`message` is text with a `.keyword` sub-field; the other searched fields are keywords."""
    return "message.keyword" if name == "message" else name


def _status(exc: Exception) -> str:
    code = getattr(exc, "status_code", None) or getattr(getattr(exc, "meta", None), "status", None)
    return f"HTTP {code}" if code else "no answer"
