"""Sustained Events/s from the apiserver through the daemon (normalise, rules, the Elasticsearch
sink) next to a bare watch client reading the same stream in the same run (the ceiling).

    python bench/cluster_throughput.py [--events 30000] [--threads 8] [--no-es]
    python bench/cluster_throughput.py --backlog 100000 [--threads 16]

A writer POSTs --events Events as fast as the apiserver takes them (--threads connections) into
one namespace of a small kwok cluster. The daemon (cluster-wide watch, Elasticsearch on the local
test node unless --no-es) and a bare client (one raw watch, orjson per line, nothing else) both
watch them. Printed: the writer's rate; for each reader the time from the first write until it
had seen every Event, and that as events/s; for the daemon also when Elasticsearch had
acknowledged them all. On this 2-core machine the apiserver and etcd, not the readers, bound the
rate: the ratio daemon / bare client is the figure that says whether the daemon keeps up.

--backlog N measures what the apiserver's write rate hides: N Events are written first, then the
daemon starts (its first start: the backlog is history, primes the rules and is indexed, sends
nothing) and takes all of them from its initial LIST through normalise, the rules (the built-in
ones and two Event rules that match a fifth of the backlog) and the Elasticsearch sink. Printed:
a bare client LISTing the same (cluster-wide, the daemon's page size, orjson per page, nothing
else) before and after the daemon, and the daemon's time from start to /readyz and to
Elasticsearch acknowledging every Event of the backlog, each as events/s, and its sustained
rate from 10 % to 90 % of the backlog; last, the bare client once more beside a busy Python
thread in its own process (the GIL's share of the gap).
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

from bench.cluster_common import (KEY, Daemon, RealClock, cpu_seconds, http_get, machine, metric_sum,  # noqa: E402
                                  write_events)
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


BACKLOG_RULES = """
rules:
  - {name: bench-backoff, source: event, match: {reason: BackOff, type: Warning}, detector: any,
     severity: warning, group_by: [namespace, involved_name]}
  - {name: bench-unhealthy, source: event, match: {reason: Unhealthy}, severity: warning,
     detector: {type: frequency, threshold: 5, window: 10m}, group_by: [namespace, involved_name]}
"""


def bare_list(api, path: str) -> tuple[int, float]:
    """LIST ``path`` page by page as the daemon does (its PAGE_SIZE, orjson per page): (items, seconds)."""
    from watcher.kube.watching import PAGE_SIZE

    host, http, headers = connection(api)
    items, token, t0 = 0, "", time.monotonic()
    while True:
        query = f"limit={PAGE_SIZE}" + (f"&continue={token}" if token else "")
        r = http.request("GET", f"{host}{path}?{query}", headers=headers, timeout=60.0)
        if r.status != 200:
            raise RuntimeError(f"LIST {path}: HTTP {r.status}: {r.data[:300]!r}")
        page = orjson.loads(r.data)
        items += len(page["items"])
        token = page["metadata"].get("continue") or ""
        if not token:
            return items, time.monotonic() - t0


def bare_list_beside_busy_thread(api, path: str) -> tuple[int, float]:
    """`bare_list` while another thread of this process runs pure Python: each of the ~120
    TLS reads per page must win the GIL back from it (the convoy effect)."""
    stop = threading.Event()

    def busy() -> None:
        x = 0
        while not stop.is_set():
            for i in range(1000):
                x += i

    spinner = threading.Thread(target=busy, daemon=True)
    spinner.start()
    try:
        return bare_list(api, path)
    finally:
        stop.set()
        spinner.join()


def backlog(args, tmp: Path, cluster, api, es, wecom, targets) -> None:
    t0 = time.monotonic()
    rate = write_events(api, targets, args.backlog, threads=args.threads)
    print(f"writer: {args.backlog} Events in {time.monotonic() - t0:.1f}s = {rate:.0f}/s ({args.threads} connections)")
    n, before = bare_list(api, "/api/v1/events")
    print(f"bare LIST client (before the daemons): {n} Events in {before:.1f}s = {n / before:.0f} events/s")
    robot = {"ops": f"{wecom.base}/cgi-bin/webhook/send?key={KEY}"}
    runs = {"LIST → rules": None, "LIST → rules → Elasticsearch": es} if es else {"LIST → rules": None}
    took = {}
    for i, (what, store) in enumerate(runs.items()):  # each a first start, on a data_dir of its own
        (tmp / f"d{i}").mkdir()
        daemon = Daemon(tmp / f"d{i}", cluster.kubeconfig_path, robot, rules=BACKLOG_RULES, extra=es_config(store))
        took[what] = drain(daemon.start(), what, args.backlog, n, store)
    n2, after = bare_list(api, "/api/v1/events")
    print(f"bare LIST client (after the daemons): {n2} Events in {after:.1f}s = {n2 / after:.0f} events/s")
    n3, beside = bare_list_beside_busy_thread(api, "/api/v1/events")
    print(f"bare LIST client beside one busy Python thread in its process: {n3} Events in {beside:.1f}s"
          f" = {n3 / beside:.0f} events/s (what the GIL costs any Python reader that works while it reads)")
    bare = min(before, after)
    for what, result in took.items():
        if result:
            seconds, sustained = result
            print(f"daemon ({what}) / bare LIST: {bare / seconds:.0%} from start to done"
                  + (f", {sustained / (n / bare):.0%} sustained (10 % to 90 %)" if sustained else ""))


def drain(daemon, what: str, backlog: int, listed: int, es) -> tuple[float, float] | None:
    """Start to the whole backlog processed (rules: every match counted and the queue empty;
    with Elasticsearch: every Event acknowledged); prints the figures, returns the seconds and
    the sustained rate (events/s from 10 % to 90 % of the backlog, without the interpreter's
    start and the tail), or None if it never finished. Readiness and progress are polled in
    one loop, so the crossings are seen while the LIST is still being read."""
    matches = sum(1 for i in range(backlog) if i % 10 in (0, 1))  # BackOff, Unhealthy (event_body)
    cpu0 = cpu_seconds(daemon.proc.pid)
    es_cpu0 = cpu_seconds(es.pid) if es else 0.0
    done = ready = None
    crossed: dict[float, tuple[float, float]] = {}
    deadline, count = time.monotonic() + 900, 0.0
    while done is None and time.monotonic() < deadline:
        if daemon.proc.poll() is not None:
            raise RuntimeError(f"daemon exited {daemon.proc.returncode}; see {daemon.log}")
        if ready is None and http_get(f"http://127.0.0.1:{daemon.port}/readyz")[0] == 200:
            ready = time.monotonic() - daemon.started
        m = daemon.metrics()
        if not m:
            time.sleep(0.05)
            continue
        count, finished = progress(m, es, backlog, matches)
        for share in (0.1, 0.9):  # the steady part, without the interpreter's start and the tail
            if share not in crossed and count >= share * backlog:
                crossed[share] = (time.monotonic(), count)
        if finished and ready is not None:
            done = time.monotonic() - daemon.started
        time.sleep(0.05)
    cpu = cpu_seconds(daemon.proc.pid) - cpu0
    es_cpu = f", Elasticsearch CPU {cpu_seconds(es.pid) - es_cpu0:.1f}s" if es else ""
    m = daemon.metrics()
    daemon.stop()
    if ready is not None:
        print(f"daemon ({what}): /readyz (initial LISTs of Events, Pods, EndpointSlices done) {ready:.1f}s after start"
              f" = {listed / ready:.0f} events/s")
    sustained = 0.0
    if len(crossed) == 2 and crossed[0.9][1] > crossed[0.1][1]:
        (t1, n1), (t2, n2) = crossed[0.1], crossed[0.9]
        sustained = (n2 - n1) / max(t2 - t1, 1e-9)
        print(f"daemon ({what}), from 10% to 90% of the backlog: {n2 - n1:.0f} Events in {t2 - t1:.1f}s"
              f" = {sustained:.0f} events/s")
    print(f"daemon ({what}): {metric_sum(m, 'kea_notifications_total'):.0f} notifications, "
          f"{metric_sum(m, 'kea_records_skipped_total'):.0f} records skipped, "
          f"{metric_sum(m, 'kea_es_docs_rejected_total'):.0f} documents rejected")
    if done is None:
        print(f"daemon ({what}): not all {backlog} backlog Events processed after 900s ({count:.0f})")
        return None
    print(f"daemon ({what}): all {backlog} backlog Events done {done:.1f}s after start = {backlog / done:.0f} events/s;"
          f" daemon CPU {cpu:.1f}s = {cpu / done:.2f} cores{es_cpu}")
    return done, sustained


def progress(m: str, es, backlog: int, matches: int) -> tuple[float, bool]:
    """(backlog Events the daemon is through, whether it is through all of them)."""
    if es:
        count = (metric_sum(m, "kea_es_docs_indexed_total", index_kind="events")
                 + metric_sum(m, "kea_es_docs_duplicate_total", index_kind="events"))
        return count, count >= backlog
    # Every record taken through the rules (the backlog plus a few Pods and slices); the matches
    # are not spread evenly over the LIST (one reason per pod), so they only confirm the end.
    hits = metric_sum(m, "kea_rule_matches_total", rule="bench-backoff") + metric_sum(
        m, "kea_rule_matches_total", rule="bench-unhealthy")
    records = metric_sum(m, "kea_pipeline_records_total")
    return records, records >= backlog and hits >= matches and metric_sum(m, "kea_pipeline_queue") == 0


def es_config(es) -> str:
    return ("" if es is None else
            f"elasticsearch: {{enabled: true, hosts: ['{es.url}'], index_prefix: bench, "
            "bulk: {flush_interval: 0.5s}}\n")


def start_es(home: Path):
    from tests.harness.es import ElasticsearchNode, ensure_launcher

    return ElasticsearchNode(home, launcher=ensure_launcher()).start()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=30_000)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--no-es", action="store_true")
    ap.add_argument("--backlog", type=int, default=0,
                    help="write this many Events first, then time the daemon's initial LIST of them")
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
            if args.backlog:
                backlog(args, Path(tmp), cluster, api, es, wecom, targets)
                return 0
            daemon = Daemon(Path(tmp), cluster.kubeconfig_path,
                            {"ops": f"{wecom.base}/cgi-bin/webhook/send?key={KEY}"}, extra=es_config(es)).start()
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
