"""`kube-event-alerter events`: search the history from the terminal, with or without Elasticsearch.

The store follows the config: Elasticsearch when `elasticsearch.enabled`, else the SQLite file
the daemon keeps in `data_dir`; `--db FILE` reads a SQLite file directly (a copy from a pod,
a laptop without a config). Exit codes as the rest of the CLI: 0 results (or none), 1 the
history cannot be searched or `--detail` names no document, 2 a bad flag or config.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from notifiers.clock import utcnow
from watcher.search import render
from watcher.search.query import KINDS, QueryError, build_query
from watcher.search.stores import EsSearch, HistoryStore, SqliteSearch, StoreError


def add_parser(sub: Any, func: Any) -> None:
    ev = sub.add_parser("events", help="search the event / endpoint / termination history (Elasticsearch or the local SQLite)")
    ev.add_argument("what", nargs="?", choices=KINDS, default="events",
                    help="events (default), endpoints (endpoint-health changes) or terminations (OOMKilled, exits)")
    ev.add_argument("-c", "--config", help="config file: Elasticsearch if enabled, else <data_dir>/history.sqlite3")
    ev.add_argument("--db", metavar="FILE", help="read this SQLite history file instead")
    ev.add_argument("--level", default="all", help="events: Warning, Normal or all (default)")
    ev.add_argument("--since", default="", metavar="DURATION", help="the last 30m, 12h, 1w ... (default 1w)")
    ev.add_argument("--from", dest="start", default="", metavar="TIME", help="2026-11-24 or 2026-11-24T09:30 (config time zone)")
    ev.add_argument("--to", dest="end", default="", metavar="TIME")
    ev.add_argument("--ns", default="", metavar="NAMESPACE")
    ev.add_argument("--reason", default="", help="events and terminations: exact reason (BackOff, OOMKilled)")
    ev.add_argument("--object", default="", metavar="KIND/NAME", help="Pod/web-1, Service/web, Deployment/web (terminations)")
    ev.add_argument("-q", "--query", default="", metavar="WORDS", help="words that must all appear (any case) in the text")
    ev.add_argument("--limit", type=int, default=100, help="rows (default 100)")
    ev.add_argument("--format", choices=("table", "json"), default="table")
    ev.add_argument("--detail", metavar="ID", help="print one document in full (the 详情 column)")
    ev.set_defaults(func=func)


class _Usage(Exception):
    """A flag or the config makes the search impossible (exit 2)."""


def run(args: argparse.Namespace) -> int:
    try:
        tz, store = _open(args)
        if args.detail:
            return _detail(store, args.what, args.detail)
        query = build_query(args.what, level=args.level, since=args.since, start=args.start, end=args.end,
                            namespace=args.ns, reason=args.reason, obj=args.object, words=args.query,
                            limit=args.limit, now=utcnow(), tz=tz)
        docs = store.search(query)
    except (QueryError, _Usage) as exc:
        print(f"events: {exc}", file=sys.stderr)
        return 2
    except StoreError as exc:
        print(f"events: {exc}", file=sys.stderr)
        return 1
    if args.format == "json":
        if docs:
            print(render.json_lines(docs))
        return 0
    print(render.table(args.what, docs, tz))
    more = f" (the first {query.limit}: narrow the search or raise --limit)" if len(docs) == query.limit else ""
    print(f"{len(docs)} rows{more}", file=sys.stderr)
    return 0


def _detail(store: HistoryStore, kind: str, doc_id: str) -> int:
    doc = store.get(kind, doc_id)
    if doc is None:
        print(f"events: no {kind} document with id {doc_id!r}", file=sys.stderr)
        return 1
    print(render.detail(doc))
    return 0


def _open(args: argparse.Namespace) -> tuple[ZoneInfo, HistoryStore]:
    """The config's time zone and store (or `--db`'s file, in Asia/Shanghai time)."""
    if args.db:
        return ZoneInfo("Asia/Shanghai"), SqliteSearch(args.db)
    if not args.config:
        raise _Usage("give -c CONFIG (or --db FILE)")
    from watcher.config import ConfigError, load_config

    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        raise _Usage(str(exc)) from None
    tz = ZoneInfo(cfg.timezone)
    if cfg.elasticsearch.enabled:
        from watcher.es import build_client

        return tz, EsSearch(build_client(cfg.elasticsearch), prefix=cfg.elasticsearch.index_prefix)
    from watcher.search.sqlite_store import FILE_NAME

    return tz, SqliteSearch(Path(cfg.data_dir) / FILE_NAME)
