"""Sustained Events/s from the apiserver through the daemon (normalise, rules, the Elasticsearch
sink) next to a bare watch client reading the same stream in the same run (the ceiling).

    python bench/cluster_throughput.py [--events 30000] [--threads 8] [--no-es]

A writer POSTs --events Events as fast as the apiserver takes them (--threads connections) into
one namespace of a small kwok cluster. The daemon (cluster-wide watch, Elasticsearch on the local
test node unless --no-es) and a bare client (one raw watch, orjson per line, nothing else) both
watch them. Printed: the writer's rate; for each reader the time from the first write until it
had seen every Event, and that as events/s; for the daemon also when Elasticsearch had
acknowledged them all. On this 2-core machine the apiserver and etcd, not the readers, bound the
rate: the ratio daemon / bare client is the figure that says whether the daemon keeps up.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.cluster_common import KEY, Daemon, RealClock, cpu_seconds, machine, metric_sum, write_events  # noqa: E402
from tests.harness.cluster import Cluster, create, deployment, pods, rollout_complete, wait  # noqa: E402
from tests.harness.kube import connection, create_namespace, request  # noqa: E402
from tests.notifiers.receivers import WeComReceiver  # noqa: E402


class BareWatch(threading.Thread):
    """One watch on a namespace's Events: counts ADDED, notes when the ``want``-th arrived."""

    def __init__(self, api, ns: str, resource_version: str, want: int):
        super().__init__(daemon=True)
        self.api, self.ns, self.rv, self.want = api, ns, resource_version, want
        self.seen = 0
        self.done_at: float | None = None

    def run(self) -> None:
        host, http, headers = connection(self.api)
        url = (f"{host}/api/v1/namespaces/{self.ns}/events?watch=1&resourceVersion={self.rv}"
               "&allowWatchBookmarks=true&timeoutSeconds=600")
        r = http.request("GET", url, headers=headers, preload_content=False, timeout=700.0)
        buf = b""
        try:
            for chunk in r.stream(65536):
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    if line and orjson.loads(line)["type"] == "ADDED":
                        self.seen += 1
                if self.seen >= self.want:
                    self.done_at = time.monotonic()
                    return
        finally:
            r.release_conn()


def start_es(home: Path):
    from tests.harness.es import ElasticsearchNode, ensure_launcher

    return ElasticsearchNode(home, launcher=ensure_launcher()).start()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=30_000)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--no-es", action="store_true")
    args = ap.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="kea-bench-") as tmp, Cluster(3, api_qps=1000, quiet=True) as cluster, \
            cluster.api_client() as api:
        es = None if args.no_es else start_es(Path(tmp) / "es")
        wecom = WeComReceiver(RealClock(), keys=(KEY,)).start()
        try:
            ns = create_namespace(api, "tput")
            create(api, ns, deployment("app", 10))
            wait(lambda: rollout_complete(api, ns, "app"), timeout=120, what="rollout")
            targets = [(ns, p["metadata"]["name"]) for p in pods(api, ns)]
            extra = ("" if es is None else
                     f"elasticsearch: {{enabled: true, hosts: ['{es.url}'], index_prefix: bench, "
                     "bulk: {flush_interval: 0.5s}}\n")
            daemon = Daemon(Path(tmp), cluster.kubeconfig_path,
                            {"ops": f"{wecom.base}/cgi-bin/webhook/send?key={KEY}"}, extra=extra).start()
            daemon.wait_ready(timeout=300)
            m0 = daemon.metrics()
            seen0 = metric_sum(m0, "kea_watch_events_total", resource="events")
            docs0 = metric_sum(m0, "kea_es_docs_indexed_total")
            rv = request(api, "GET", f"/api/v1/namespaces/{ns}/events", query={"limit": "1"})["metadata"]["resourceVersion"]
            bare = BareWatch(api, ns, rv, args.events)
            bare.start()
            cpu0 = cpu_seconds(daemon.proc.pid)
            t0 = time.monotonic()
            rate = write_events(api, targets, args.events, threads=args.threads)
            written = time.monotonic() - t0
            daemon_done = es_done = None
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline and (daemon_done is None or (es and es_done is None)):
                m = daemon.metrics()
                now = time.monotonic()
                if daemon_done is None and metric_sum(m, "kea_watch_events_total", resource="events") - seen0 >= args.events:
                    daemon_done = now
                if es and es_done is None and metric_sum(m, "kea_es_docs_indexed_total") - docs0 >= args.events:
                    es_done = now
                time.sleep(0.05)
            cpu = cpu_seconds(daemon.proc.pid) - cpu0
            bare.join(60)
            print(f"writer: {args.events} Events in {written:.1f}s = {rate:.0f}/s ({args.threads} connections)")

            def line(who: str, at: float | None) -> str:
                if at is None:
                    return f"{who}: did not see all {args.events} Events"
                return f"{who}: all seen {at - t0:.1f}s after the first write = {args.events / (at - t0):.0f} events/s"

            print(line("bare watch client", bare.done_at))
            print(line("daemon (watch + rules)", daemon_done))
            if es:
                print(line("daemon → Elasticsearch acknowledged", es_done))
            if bare.done_at and daemon_done:
                print(f"daemon / bare client: {(bare.done_at - t0) / (daemon_done - t0):.0%}; "
                      f"daemon CPU {cpu:.1f}s over the run")
            daemon.stop()
        finally:
            wecom.stop()
            if es:
                es.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
