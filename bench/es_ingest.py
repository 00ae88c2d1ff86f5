#!/usr/bin/env python3
"""Sustained Event ingest into Elasticsearch through `watcher.es.EsSink`.

    python bench/es_ingest.py                      # starts the local test node (tools/es-node)
    python bench/es_ingest.py --url http://127.0.0.1:9200 --events 200000

Measures what the daemon would see: Records (already normalised, as the watchers hand them
over) go through `put()`, documents are built, bulk-written and acknowledged. The producer keeps
the sink's memory queue topped up without overflowing it into the spool, so the figure is the
sink's own sustained rate, not the speed of an in-memory list. A warm-up batch (index creation,
JIT) is not counted. Prints one summary line; exit 1 if any document was rejected or missing.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from elasticsearch import Elasticsearch  # noqa: E402

from watcher.es import EsSink  # noqa: E402
from watcher.es.stats import NoSinkStats  # noqa: E402
from watcher.normalize import normalize  # noqa: E402

T0 = datetime(2026, 11, 20, tzinfo=timezone.utc)
REASONS = ("BackOff", "Unhealthy", "FailedMount", "Killing", "Pulled", "Scheduled", "FailedScheduling")


def make_records(n: int, start: int, cluster: str) -> list:
    out = []
    for i in range(start, start + n):
        when = (T0 + timedelta(seconds=i * 5)).strftime("%Y-%m-%dT%H:%M:%SZ")
        ns = f"team-{i % 23}"
        obj = {
            "kind": "Event",
            "metadata": {"name": f"web-{i % 977}.{i:x}", "namespace": ns, "uid": f"bench-{i}", "resourceVersion": str(i),
                         "labels": {"app.kubernetes.io/name": "web", "app": "web"} if i % 5 == 0 else {}},
            "involvedObject": {"kind": "Pod", "name": f"web-6d8f7c9b4-{i % 977:05d}", "namespace": ns,
                               "uid": f"pod-{i % 977}", "fieldPath": "spec.containers{app}"},
            "reason": REASONS[i % len(REASONS)], "type": "Warning" if i % 3 else "Normal",
            "message": f"Back-off restarting failed container app in pod web-6d8f7c9b4-{i % 977:05d}_{ns}({i})",
            "count": 1 + i % 4, "firstTimestamp": when, "lastTimestamp": when,
            "source": {"component": "kubelet", "host": f"node-{i % 31}"},
        }
        out.append(normalize("MODIFIED", obj, cluster=cluster))
    return out


def run(client: Elasticsearch, *, events: int, warmup: int, chunk_size: int, flush: float, spool: Path) -> int:
    counts: Counter = Counter()
    lock = threading.Lock()

    class Outcomes(NoSinkStats):
        def indexed(self, index_kind: str, count: int) -> None:
            add("docs_indexed", count)

        def duplicate(self, index_kind: str, count: int) -> None:
            add("docs_duplicate", count)

        def rejected(self, index_kind: str, reason: str) -> None:
            add("docs_rejected", 1)

        def spooled(self, count: int) -> None:
            add("docs_spooled", count)

        def bulk_error(self, reason: str) -> None:
            add("bulk_errors", 1)

    def add(name: str, value: int) -> None:
        with lock:
            counts[name] += value

    def acked() -> float:
        with lock:
            return counts["docs_indexed"] + counts["docs_duplicate"] + counts["docs_rejected"]

    prefix = f"bench{int(time.time())}"
    sink = EsSink(client, prefix=prefix, spool_dir=spool, spool_max_bytes=1 << 30, chunk_size=chunk_size,
                  max_chunk_bytes=5 << 20, flush_interval=flush, stats=Outcomes())
    if not sink.install_templates():
        print("es_ingest: Elasticsearch unreachable", file=sys.stderr)
        return 1
    sink.start()
    records = make_records(warmup + events, 0, "bench")
    high_water = int(sink.max_queued * 0.8)  # stay below the spill-to-spool bound

    def feed(batch: list) -> float:
        t = time.perf_counter()
        for r in batch:
            while sink.status()["queued"] >= high_water:
                time.sleep(0.001)
            sink.put(r)
        return time.perf_counter() - t

    feed(records[:warmup])
    deadline = time.monotonic() + 120
    while acked() < warmup and time.monotonic() < deadline:
        time.sleep(0.01)
    base = acked()
    t0 = time.perf_counter()
    feed(records[warmup:])
    while acked() - base < events and time.monotonic() < deadline + 600:
        time.sleep(0.005)
    elapsed = time.perf_counter() - t0
    sink.stop(30)
    client.indices.refresh(index=f"{prefix}-events")
    stored = client.count(index=f"{prefix}-events")["count"]
    rate = events / elapsed
    print(f"es_ingest: {events} events in {elapsed:.2f} s = {rate:,.0f} events/s sustained "
          f"(chunk_size={chunk_size}, flush_interval={flush}s, warm-up {warmup}); stored={stored}, "
          f"rejected={int(counts['docs_rejected'])}, spooled={int(counts['docs_spooled'])}, "
          f"bulk_errors={int(counts['bulk_errors'])}")
    client.indices.delete(index=f"{prefix}-*")
    for name in (f"{prefix}-events", f"{prefix}-endpoints", f"{prefix}-terminations", f"{prefix}-alerts"):
        client.options(ignore_status=404).indices.delete_index_template(name=name)
    client.options(ignore_status=404).cluster.delete_component_template(name=f"{prefix}-common")
    return 0 if stored == warmup + events and not counts["docs_rejected"] else 1


def main() -> int:
    p = argparse.ArgumentParser(description="Sustained event ingest through EsSink into Elasticsearch.")
    p.add_argument("--url", help="an existing node; default: start the local test node")
    p.add_argument("--events", type=int, default=50_000)
    p.add_argument("--warmup", type=int, default=5_000)
    p.add_argument("--chunk-size", type=int, default=500)
    p.add_argument("--flush-interval", type=float, default=2.0)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="es-ingest-") as tmp:
        node = None
        if args.url:
            url = args.url
        else:
            from tests.harness.es import ElasticsearchNode

            node = ElasticsearchNode(Path(tmp) / "node").start()
            url = node.url
        try:
            client = Elasticsearch(url, request_timeout=60)
            return run(client, events=args.events, warmup=args.warmup, chunk_size=args.chunk_size,
                       flush=args.flush_interval, spool=Path(tmp) / "spool")
        finally:
            if node is not None:
                node.stop()


if __name__ == "__main__":
    raise SystemExit(main())
