"""The daemon at fleet scale on this machine: a kwok cluster of --nodes fake nodes running
--pods pods (real Deployments, ReplicaSets, scheduler, EndpointSlices), with --events Events in
the API, then the daemon started cluster-wide on it.

    python bench/cluster_scale.py [--nodes 500] [--pods 10000] [--events 100000] [--rate 500]

Prints: how long the cluster took to get there; the daemon's time from start to /readyz (its
initial LISTs of Events, Pods and EndpointSlices primed); its peak RSS (VmHWM) and its steady RSS
after --settle seconds idle; and its CPU per 1,000 events/s while --rate new Events/s are
written for --seconds (CPU seconds of the daemon / wall seconds / (rate / 1000)).
Everything — etcd, apiserver, controllers, scheduler, kwok, the writer and the daemon — shares
the machine's cores, so the figures are for a loaded machine, not a quiet one.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.cluster_common import (  # noqa: E402
    KEY,
    Daemon,
    RealClock,
    Sampler,
    count,
    cpu_seconds,
    machine,
    metric_sum,
    rss_mib,
    write_events,
)
from tests.harness.cluster import Cluster, create, deployment, service  # noqa: E402
from tests.harness.kube import create_namespace, request  # noqa: E402
from tests.notifiers.receivers import WeComReceiver  # noqa: E402


def populate(cluster: Cluster, pods: int, per_deployment: int, namespaces: int) -> list[str]:
    """Deployments (each with a Service) of ``per_deployment`` replicas over ``namespaces``."""
    names = []
    with cluster.api_client() as api:
        spaces = [create_namespace(api, f"scale-{i}") for i in range(namespaces)]
        for d in range(pods // per_deployment):
            ns, name = spaces[d % namespaces], f"app-{d}"
            create(api, ns, service(name))
            create(api, ns, deployment(name, per_deployment))
            names.append(f"{ns}/{name}")
    return spaces


def ready_replicas(api) -> int:
    items = request(api, "GET", "/apis/apps/v1/deployments")["items"]
    return sum(d.get("status", {}).get("readyReplicas", 0) for d in items)


def running_pods(api, spaces: list[str], limit: int) -> list[tuple[str, str]]:
    out = []
    for ns in spaces:
        page = request(api, "GET", f"/api/v1/namespaces/{ns}/pods", query={"limit": str(limit)})
        out += [(ns, p["metadata"]["name"]) for p in page["items"]]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nodes", type=int, default=500)
    ap.add_argument("--pods", type=int, default=10_000)
    ap.add_argument("--per-deployment", type=int, default=100)
    ap.add_argument("--namespaces", type=int, default=20)
    ap.add_argument("--events", type=int, default=100_000, help="Events in the API before the daemon starts")
    ap.add_argument("--rate", type=float, default=500.0, help="Events/s written for the CPU figure")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--settle", type=float, default=30.0)
    args = ap.parse_args()
    print(f"machine: {machine()}")
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kea-bench-") as tmp, \
            Cluster(args.nodes, api_qps=1000, start_timeout=900, quiet=True) as cluster, \
            cluster.api_client() as api:
        print(f"cluster: {args.nodes} nodes Ready in {time.monotonic() - t0:.1f}s")
        t1 = time.monotonic()
        spaces = populate(cluster, args.pods, args.per_deployment, args.namespaces)
        while (ready := ready_replicas(api)) < args.pods:
            if time.monotonic() - t1 > 1800:
                print(f"cluster: only {ready} pods ready after 30 min; going on")
                break
            time.sleep(2)
        print(f"cluster: {ready_replicas(api)} pods Ready in {time.monotonic() - t1:.1f}s "
              f"({args.pods // args.per_deployment} Deployments)")
        targets = running_pods(api, spaces, 50)
        have = count(api, "/api/v1/events")
        if args.events > have:
            t2 = time.monotonic()
            rate = write_events(api, targets, args.events - have, threads=16)
            print(f"cluster: wrote {args.events - have} Events at {rate:.0f}/s "
                  f"in {time.monotonic() - t2:.1f}s")
        in_api = {r: count(api, p) for r, p in (("events", "/api/v1/events"), ("pods", "/api/v1/pods"),
                                                ("endpointslices", "/apis/discovery.k8s.io/v1/endpointslices"))}
        print(f"in the API: {in_api}")

        wecom = WeComReceiver(RealClock(), keys=(KEY,)).start()
        daemon = Daemon(Path(tmp), cluster.kubeconfig_path,
                        {"ops": f"{wecom.base}/cgi-bin/webhook/send?key={KEY}"}).start()
        sampler = Sampler(daemon.proc.pid, every=0.2)
        sampler.start()
        try:
            ready_s = daemon.wait_ready(timeout=900)
            rss, peak = rss_mib(daemon.proc.pid)
            print(f"daemon: ready in {ready_s:.1f}s; RSS at ready {rss:.0f} MiB, peak so far {peak:.0f} MiB")
            time.sleep(args.settle)  # idle: what it holds once the LISTs are garbage
            rss, peak = rss_mib(daemon.proc.pid)
            print(f"daemon: steady RSS {rss:.0f} MiB after {args.settle:.0f}s idle (peak {peak:.0f} MiB)")

            seen0 = metric_sum(daemon.metrics(), "kea_watch_events_total", resource="events")
            cpu0, w0 = cpu_seconds(daemon.proc.pid), time.monotonic()
            n = int(args.rate * args.seconds)
            achieved = write_events(api, targets, n, start=10_000_000, rate=args.rate)
            deadline = time.monotonic() + 120
            while metric_sum(daemon.metrics(), "kea_watch_events_total", resource="events") - seen0 < n:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            cpu, wall = cpu_seconds(daemon.proc.pid) - cpu0, time.monotonic() - w0
            seen = metric_sum(daemon.metrics(), "kea_watch_events_total", resource="events") - seen0
            per_k = cpu / wall / (seen / wall / 1000) if seen else float("nan")
            rss, peak = rss_mib(daemon.proc.pid)
            print(f"daemon: {seen:.0f}/{n} new Events seen in {wall:.1f}s (written at {achieved:.0f}/s); "
                  f"CPU {cpu:.1f}s = {cpu / wall:.2f} cores = {per_k:.2f} cores per 1,000 events/s; "
                  f"RSS {rss:.0f} MiB, peak {peak:.0f} MiB")
        finally:
            sampler.stop()
            daemon.stop()
            wecom.stop()
        print(f"daemon: {len(wecom.accepted)} messages sent to the robot")
    print(f"total {time.monotonic() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
