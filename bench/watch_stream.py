"""Watch-stream throughput and per-object memory of the watchers, one core.

    python bench/watch_stream.py [--events 50000] [--objects 100000]

1. Events per second through the raw stream path of `watcher.kube`: 64 KiB reads split into
   lines and parsed with orjson (`iter_events`), then with `normalize` and the known-state
   update a Watcher does per event — against the stdlib `json` parser for comparison (what
   the client's `watch.Watch` uses before building model objects).
2. Bytes per remembered object (`KnownObjects`: uid → resourceVersion + a tiny stub), for
   Pods and Events: what a watcher holds between relists instead of whole objects.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from watcher.kube.resources import EVENTS, PODS, KnownObjects  # noqa: E402
from watcher.kube.stream import READ_SIZE, iter_events  # noqa: E402
from watcher.normalize import normalize  # noqa: E402


def pod(i: int) -> dict:
    name = f"web-6d8f7c9b4-{i:05d}"
    return {
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {"name": name, "namespace": f"ns-{i % 40}", "uid": f"0000-{i:08d}", "resourceVersion": str(1000 + i),
                     "creationTimestamp": "2026-01-01T00:00:00Z",
                     "labels": {"app": "web", "pod-template-hash": "6d8f7c9b4", "team": "shop"},
                     "annotations": {"prometheus.io/scrape": "true"},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-6d8f7c9b4",
                                          "uid": "rs-uid", "controller": True}]},
        "spec": {"nodeName": f"node-{i % 50}", "containers": [
            {"name": "app", "image": "registry.example/web:1.2.3", "resources": {"limits": {"memory": "512Mi"}},
             "env": [{"name": f"E{k}", "value": "x" * 20} for k in range(10)]},
            {"name": "sidecar", "image": "registry.example/proxy:2", "resources": {"limits": {"memory": "64Mi"}}}]},
        "status": {"phase": "Running", "podIP": f"10.1.{i % 250}.{i % 200}", "hostIP": "192.168.0.11",
                   "conditions": [{"type": t, "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}
                                  for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")],
                   "containerStatuses": [
                       {"name": c, "ready": True, "restartCount": i % 3, "image": "img", "imageID": "sha256:" + "0" * 64,
                        "containerID": f"containerd://{i:064d}", "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}},
                        "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137,
                                                     "startedAt": "2026-01-01T00:00:00Z",
                                                     "finishedAt": "2026-01-01T00:01:00Z"}} if i % 50 == 0 else {}}
                       for c in ("app", "sidecar")]},
    }


def event(i: int) -> dict:
    return {"kind": "Event", "apiVersion": "v1",
            "metadata": {"name": f"web-{i}.17a{i:013x}", "namespace": f"ns-{i % 40}", "uid": f"ev-{i:08d}",
                         "resourceVersion": str(5000 + i)},
            "involvedObject": {"kind": "Pod", "name": f"web-{i}", "namespace": f"ns-{i % 40}", "uid": f"0000-{i:08d}"},
            "reason": "BackOff", "type": "Warning", "message": "Back-off restarting failed container app", "count": 3,
            "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:05:00Z",
            "source": {"component": "kubelet", "host": "node-1"}}


def stream(n: int) -> list[bytes]:
    data = b"".join(json.dumps({"type": "MODIFIED", "object": pod(i)}).encode() + b"\n" for i in range(n))
    return [data[i:i + READ_SIZE] for i in range(0, len(data), READ_SIZE)]


def reader(chunks: list[bytes]):
    it = iter(chunks)
    return lambda n: next(it, b"")


def bench_stream(n: int) -> None:
    chunks = stream(n)
    size = sum(map(len, chunks))
    print(f"stream: {n} Pod MODIFIED events, {size / n:.0f} bytes each")

    start = time.perf_counter()
    for line in b"".join(chunks).splitlines():
        json.loads(line)
    t_json = time.perf_counter() - start

    start = time.perf_counter()
    for _ in iter_events(reader(chunks)):
        pass
    t_parse = time.perf_counter() - start

    known = KnownObjects(PODS)
    start = time.perf_counter()
    for e in iter_events(reader(chunks)):
        obj = e["object"]
        meta = obj["metadata"]
        known.remember(meta["uid"], meta["resourceVersion"], obj)
        normalize(e["type"], obj, cluster="bench", kind="Pod")
    t_full = time.perf_counter() - start
    for label, t in (("stdlib json.loads per line", t_json), ("iter_events (orjson)", t_parse),
                     ("iter_events + normalize + known state", t_full)):
        print(f"  {label:40s} {n / t:>10,.0f} events/s  ({size / t / 1e6:,.0f} MB/s)")


def bench_memory(n: int) -> None:
    for spec, make in ((PODS, pod), (EVENTS, event)):
        objs = [make(i) for i in range(n)]
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        known = KnownObjects(spec)
        for o in objs:
            m = o["metadata"]
            known.remember(m["uid"], m["resourceVersion"], o)
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        full = len(json.dumps(objs[1]))
        print(f"known state, {spec.name:6s}: {(after - before) / n:,.0f} bytes per object "
              f"(the object is {full:,} bytes of JSON; the labels dict is the parsed object's own, not counted)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=50_000)
    ap.add_argument("--objects", type=int, default=100_000)
    args = ap.parse_args()
    print(f"python {platform.python_version()} on {platform.machine()}")
    bench_stream(args.events)
    bench_memory(args.objects)


if __name__ == "__main__":
    main()
