"""OOMs on a kwok cluster, end to end into protocol-true WeCom robots (tests/notifiers/receivers).

    python bench/cluster_oom.py latency [--ooms 1000] [--robots 20] [--rate 5]
    python bench/cluster_oom.py burst [--ooms 1000] [--pods 50] [--seconds 60] [--robots 2]

latency: --ooms OOMKills spread over 3 pods per robot, one oom_killed rule per robot (each
  rule sends its pods' OOMs to its own robot; repeat_interval 0, so every OOM is a message),
  paced at --rate/s so no robot nears its 20/min limit. Latency is from the moment kwok's
  OOMKilled status write is seen on a watch (this process's own, next to the daemon's) to the
  robot receiving the POST naming that pod; p50/p99/max are printed.
burst: --ooms OOMKills within --seconds across --pods pods of one Deployment, the built-in
  rules (oom-killed folds repeats per container for 30 min), routed to --robots robots. Printed
  per robot: messages, how many were digests, the most in any 60 s, when the last arrived, and
  whether every pod that OOMed is named (nothing lost).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson
import urllib3

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.cluster_common import Daemon, RealClock, machine, metric_sum  # noqa: E402
from tests.harness.cluster import Cluster, create, deployment, oom, pods, rollout_complete, wait  # noqa: E402
from tests.harness.kube import connection, create_namespace, request  # noqa: E402
from tests.notifiers.receivers import WeComReceiver, max_in_window  # noqa: E402


class OomWatch(threading.Thread):
    """Watches a namespace's Pods; records (pod, finishedAt) → when the OOMKilled was seen."""

    def __init__(self, api, ns: str):
        super().__init__(daemon=True)
        self.api, self.ns = api, ns
        self.seen: dict[tuple[str, str], float] = {}
        self.stop = False

    def run(self) -> None:
        host, http, headers = connection(self.api)
        rv = request(self.api, "GET", f"/api/v1/namespaces/{self.ns}/pods")["metadata"]["resourceVersion"]
        r = http.request("GET", f"{host}/api/v1/namespaces/{self.ns}/pods?watch=1&resourceVersion={rv}"
                         "&timeoutSeconds=1800", headers=headers, preload_content=False, timeout=1900.0)
        try:
            self._read(r)
        except urllib3.exceptions.HTTPError:  # the cluster stopping under us
            pass
        r.release_conn()

    def _read(self, r) -> None:
        buf = b""
        for chunk in r.stream(65536):
            now = time.monotonic()
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                obj = orjson.loads(line)["object"]
                for c in obj.get("status", {}).get("containerStatuses") or ():
                    for state in (c.get("state") or {}, c.get("lastState") or {}):
                        t = state.get("terminated") or {}
                        if t.get("reason") == "OOMKilled":
                            self.seen.setdefault((obj["metadata"]["name"], t["finishedAt"]), now)
            if self.stop:
                return


def robots(n: int) -> tuple[WeComReceiver, dict[str, str], list[str]]:
    keys = [f"wk-bench-{i:03d}-secretsecret" for i in range(n)]
    rx = WeComReceiver(RealClock(), keys=tuple(keys)).start()
    urls = {f"robot{i}": f"{rx.base}/cgi-bin/webhook/send?key={k}" for i, k in enumerate(keys)}
    return rx, urls, keys


def setup(cluster, api, ns: str, groups: dict[str, int], annotations: dict) -> list[str]:
    for name, replicas in groups.items():
        create(api, ns, deployment(name, replicas, labels={"robot": name}, annotations=annotations))
    for name in groups:
        wait(lambda: rollout_complete(api, ns, name), timeout=300, what=f"{name} rolled out")
    return [p["metadata"]["name"] for p in pods(api, ns)]


def settle(check, timeout: float) -> None:
    """Wait until ``check()`` or ``timeout``; the figures then say what arrived."""
    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:
        time.sleep(0.5)


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def latency(args) -> None:
    rx, urls, keys = robots(args.robots)
    rules = ["rules:", "  - {name: oom-killed, source: pod, detector: oom_killed, enabled: false}"]
    rules += [f"  - {{name: oom-{r}, source: pod, detector: oom_killed, match: {{labels: 'robot={r}'}}, "
              f"repeat_interval: 0s, notify: [{r}]}}" for r in urls]
    with tempfile.TemporaryDirectory(prefix="kea-bench-") as tmp, Cluster(5, api_qps=1000, quiet=True) as cluster, \
            cluster.api_client() as api:
        ns = create_namespace(api, "oom")
        names = setup(cluster, api, ns, {r: 3 for r in urls}, {"kea.test/restart-delay": "300ms"})
        watch = OomWatch(api, ns)
        watch.start()
        daemon = Daemon(Path(tmp), cluster.kubeconfig_path, urls, rules="\n".join(rules) + "\n",
                        namespaces=[ns]).start()
        daemon.wait_ready()
        t0 = time.monotonic()
        for i in range(args.ooms):
            delay = t0 + i / args.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            oom(api, ns, names[i % len(names)])
        settle(lambda: len(watch.seen) >= args.ooms and len(rx.accepted) >= len(watch.seen), 120)
        watch.stop = True
        lat = match_latencies(watch.seen, rx, names)
        m = daemon.metrics()
        daemon.stop()
    rx.stop()
    per_robot = max(max_in_window([a.at for a in rx.accepted if a.robot == k], 60.0) for k in keys)
    print(f"latency: {len(watch.seen)} OOMs seen, {len(rx.accepted)} messages, {len(lat)} matched; "
          f"{args.robots} robots, busiest had {per_robot} in a minute")
    print(f"latency: kwok's OOMKilled write → robot POST: p50 {pct(lat, 0.5) * 1000:.0f} ms, "
          f"p99 {pct(lat, 0.99) * 1000:.0f} ms, max {max(lat) * 1000:.0f} ms, mean {statistics.mean(lat) * 1000:.0f} ms")
    multi = sum(1 for a in rx.accepted if sum(n in rx.text_of(a.payload) for n in names) > 1)
    print(f"daemon: alerts {metric_sum(m, 'kea_alerts_total'):.0f}, messages naming several pods {multi}, "
          f"notifications {metric_sum(m, 'kea_notifications_total'):.0f}, "
          f"errors {metric_sum(m, 'kea_notification_errors_total'):.0f}")


def match_latencies(seen: dict, rx: WeComReceiver, names: list[str]) -> list[float]:
    """The k-th OOM of a pod ↔ the k-th message naming it (each pod has one robot, in order)."""
    out = []
    for name in names:
        ooms = sorted(t for (pod, _), t in seen.items() if pod == name)
        sent = sorted(a.at for a in rx.accepted if name in rx.text_of(a.payload))
        out += [s - o for o, s in zip(ooms, sent)]
    return out


def burst(args) -> None:
    rx, urls, keys = robots(args.robots)
    with tempfile.TemporaryDirectory(prefix="kea-bench-") as tmp, Cluster(5, api_qps=1000, quiet=True) as cluster, \
            cluster.api_client() as api:
        ns = create_namespace(api, "burst")
        names = setup(cluster, api, ns, {"web": args.pods}, {"kea.test/restart-delay": "300ms"})
        watch = OomWatch(api, ns)
        watch.start()
        # every robot gets every alert: routing.default lists them all
        daemon = Daemon(Path(tmp), cluster.kubeconfig_path, urls, namespaces=[ns], default=list(urls)).start()
        daemon.wait_ready()
        t0 = time.monotonic()
        for i in range(args.ooms):
            delay = t0 + i * args.seconds / args.ooms - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            oom(api, ns, names[i % len(names)])
        injected = time.monotonic() - t0
        oomed = lambda: {pod for pod, _ in watch.seen}  # noqa: E731
        every_pod_named = lambda k: all(any(p in rx.text_of(a.payload) for a in rx.accepted if a.robot == k)  # noqa: E731
                                        for p in oomed())
        settle(lambda: all(every_pod_named(k) for k in keys), 900)
        done = time.monotonic() - t0
        watch.stop = True
        m = daemon.metrics()
        daemon.stop()
    rx.stop()
    print(f"burst: {args.ooms} OOM triggers in {injected:.0f}s over {args.pods} pods; "
          f"{len(watch.seen)} OOMKilled statuses seen, on {len({p for p, _ in watch.seen})} pods")
    for k in keys:
        got = [a for a in rx.accepted if a.robot == k]
        texts = [rx.text_of(a.payload) for a in got]
        digests = sum(1 for t in texts if t.count("【告警】") > 1 or "条" in t.split("\n", 1)[0])
        print(f"burst: robot {k[:12]}…: {len(got)} messages ({digests} digests), "
              f"most in any 60 s: {max_in_window([a.at for a in got], 60.0)}, "
              f"last {max(a.at for a in got) - t0:.0f}s after the first OOM, every pod named: {every_pod_named(k)}")
    print(f"burst: all delivered {done:.0f}s after the first OOM; daemon notifications "
          f"{metric_sum(m, 'kea_notifications_total'):.0f}, errors {metric_sum(m, 'kea_notification_errors_total'):.0f}, "
          f"45009 answers {sum(1 for a in rx.answers if a.code == 45009)}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    lat = sub.add_parser("latency")
    lat.add_argument("--ooms", type=int, default=1000)
    lat.add_argument("--robots", type=int, default=20)
    lat.add_argument("--rate", type=float, default=5.0, help="OOMs per second")
    b = sub.add_parser("burst")
    b.add_argument("--ooms", type=int, default=1000)
    b.add_argument("--pods", type=int, default=50)
    b.add_argument("--seconds", type=float, default=60.0)
    b.add_argument("--robots", type=int, default=2)
    args = ap.parse_args()
    print(f"machine: {machine()}")
    (latency if args.mode == "latency" else burst)(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
