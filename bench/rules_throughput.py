"""Events per second through normalise + 50 rules, on raw API dicts, one core, next to its
ceiling: orjson parsing the same objects as watch lines, timed in the same pass.

    python bench/rules_throughput.py [--events 200000] [--rules 50] [--repeat 3] [--normalize both]

It runs the packages that are installed: `pip install .` builds `watcher/normalize.py` and the
rules' index, views and timers with mypyc (setup.py), an editable install runs them as
source; the lines printed say which. `--normalize both` alternates passes of the installed
normaliser with passes of its source file, in one run (what compiling the normaliser gains);
the whole compiled set against the source is two runs, one per install.

The machine is shared, so each pass times the ceiling and the path back to back and the
median pass is reported with their ratio: the ratio moves less with the neighbours' load
than either figure.

The mix is what a busy cluster streams: 70% Events (mostly Normal, some Warning repeats),
20% Pod status changes (a few OOMKilled), 10% EndpointSlice changes. Rules are the two
built-ins plus generated `any` / `frequency` rules with equality, list, regex, negation,
namespace and label-selector matches.
"""
from __future__ import annotations

import argparse
import importlib.util
import statistics
import os
import platform
import random
import sys
import time
from datetime import datetime, timedelta, timezone
from typing import NamedTuple
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parents[1]
sys.path.append(str(REPO))  # after site-packages: an installed (compiled) package comes first

from rules.engine import Engine  # noqa: E402
from rules.loader import load_rule_set, load_text  # noqa: E402
from watcher.gctune import freeze_startup_state, tune_gc  # noqa: E402
from watcher.normalize import normalize  # noqa: E402

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
REASONS = ["Pulled", "Created", "Started", "Scheduled", "BackOff", "Unhealthy", "FailedMount", "Killing", "FailedScheduling"]


def make_rules(n: int):
    docs = []
    for i in range(n - 2):
        reason = REASONS[i % len(REASONS)]
        kind = i % 5
        if kind == 0:
            docs.append(f"- {{name: r{i}, source: event, detector: any, match: {{reason: {reason}, type: Warning}}, repeat_interval: 10m}}")
        elif kind == 1:
            docs.append(f"- {{name: r{i}, source: event, detector: {{type: frequency, threshold: 5, window: 5m}}, match: {{reason: [{reason}, Failed]}}}}")
        elif kind == 2:
            word = ["timeout", "refused", "no space", "denied", "quota", "evicted", "unreachable", "throttl", "x509", "dns"][i // 5 % 10]
            docs.append(f"- {{name: r{i}, source: event, detector: any, match: {{message: '~ (?i){word}', namespaces: {{exclude: [kube-system]}}}}, repeat_interval: 10m}}")
        elif kind == 3:
            waiting = ["CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError", "RunContainerError"][i // 5 % 5]
            app = ["web", "api"][i // 25]
            docs.append(f"- {{name: r{i}, source: pod, detector: any, match: {{waiting_reason: {waiting}, labels: 'app in ({app})'}}, repeat_interval: 30m}}")
        else:
            docs.append(f"- {{name: r{i}, source: event, detector: any, match: {{reason: {reason}, involved_kind: {{not: Node}}, count: {{gte: 3}}}}, repeat_interval: 10m}}")
    builtins = load_rule_set([]).rules
    if not docs:
        return builtins[:n]
    user = load_text("\n".join(docs), "bench.yaml")
    assert user.ok, user.problems[:3]
    return builtins + user.rules


def make_stream(n: int, seed: int = 7) -> list[tuple[str, dict]]:
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        t = (T0 + timedelta(milliseconds=i * 10)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        ns = f"ns-{rnd.randrange(40)}"
        if rnd.random() < 0.15:
            ns = "ns-0"  # the team whose deploy is failing
        roll = rnd.random()
        if roll < 0.7:
            # Most of a cluster's Events are the Normal lifecycle of pods; a few are warnings.
            reason = rnd.choice(REASONS[:4]) if rnd.random() < 0.85 else rnd.choice(REASONS[4:])
            out.append(("MODIFIED" if rnd.random() < 0.3 else "ADDED", {
                "kind": "Event", "metadata": {"name": f"e{i}", "namespace": ns, "uid": f"u{i % 5000}", "resourceVersion": str(i)},
                # Warnings come from the few pods that are failing; the rest is routine.
                "involvedObject": {"kind": "Pod", "name": f"web-{i % 20 if reason in REASONS[4:] else i % 300}", "namespace": ns},
                "reason": reason, "type": "Warning" if reason in ("BackOff", "Unhealthy", "FailedMount") else "Normal",
                "message": "Readiness probe failed: connection refused" if reason == "Unhealthy" else "ok",
                "count": 1 + (i // 5000) % 4, "firstTimestamp": t, "lastTimestamp": t, "source": {"component": "kubelet", "host": "n1"}}))
        elif roll < 0.9:
            oom = rnd.random() < 0.02
            last = {"terminated": {"reason": "OOMKilled" if oom else "Completed", "exitCode": 137 if oom else 0, "finishedAt": t}}
            out.append(("MODIFIED", {
                "kind": "Pod", "metadata": {"name": f"web-{i % 300}", "namespace": ns, "uid": f"p{i % 300}", "resourceVersion": str(i),
                                            "labels": {"app": "web", "pod-template-hash": "abc12"},
                                            "ownerReferences": [{"kind": "ReplicaSet", "name": "web-abc12", "controller": True}]},
                "spec": {"nodeName": "n1", "containers": [{"name": "app", "resources": {"limits": {"memory": "1Gi"}}}]},
                "status": {"phase": "Running", "podIP": "10.0.0.1", "containerStatuses": [{
                    "name": "app", "ready": not oom, "restartCount": i // 1000,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}} if oom else {"running": {}}, "lastState": last}]}}))
        else:
            ready = [rnd.random() > 0.05 for _ in range(3)]
            out.append(("MODIFIED", {
                "kind": "EndpointSlice", "metadata": {"name": f"svc{i % 50}-x", "namespace": ns, "uid": f"s{i % 50}", "resourceVersion": str(i),
                                                      "labels": {"kubernetes.io/service-name": f"svc{i % 50}"},
                                                      "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": t}},
                "endpoints": [{"addresses": [f"10.0.1.{k}"], "conditions": {"ready": r}, "nodeName": "n1",
                               "targetRef": {"kind": "Pod", "name": f"web-{k}"}} for k, r in enumerate(ready)]}))
    return out


class Pass(NamedTuple):
    wall: float
    """normalise + rules over the stream."""
    normalize_only: float
    ceiling: float
    """orjson.loads over the same objects as watch lines."""
    alerts: int


def run_once(n_rules: int, stream, lines: list[bytes], normalize=normalize) -> Pass:
    """One pass on a fresh engine and fresh rules (a detector keeps its memory in the rule: a
    pass on the last pass's rules starts with its frequency windows full): the ceiling,
    normalise alone, then normalise + rules."""
    rules = make_rules(n_rules)
    t0 = time.perf_counter()
    for line in lines:
        orjson.loads(line)
    ceiling = time.perf_counter() - t0
    engine = Engine(rules, stale_before=T0)
    t0 = time.perf_counter()
    for wt, obj in stream:
        normalize(wt, obj, cluster="bench")
    normalize_only = time.perf_counter() - t0
    alerts = 0
    start = time.perf_counter()
    now = T0
    for i, (wt, obj) in enumerate(stream):
        record = normalize(wt, obj, cluster="bench")
        if record.timestamp is not None and record.timestamp > now:
            now = record.timestamp
        alerts += len(engine.process(record, now))
        if i % 1000 == 0:
            alerts += len(engine.tick(now))
    return Pass(time.perf_counter() - start, normalize_only, ceiling, alerts)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--rules", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=3, help="passes; the median and the best are reported")
    ap.add_argument("--normalize", choices=("installed", "both"), default="installed",
                    help="both: alternate passes of the installed watcher.normalize and of its source file")
    args = ap.parse_args()
    load = os.getloadavg()[0]
    rules = make_rules(args.rules)
    stream = make_stream(args.events)
    lines = [orjson.dumps({"type": t, "object": o}) for t, o in stream]
    tune_gc()  # as the daemon does
    freeze_startup_state()
    variants = {f"installed ({_how_built(normalize)})": normalize}
    if args.normalize == "both":
        variants["source (watcher/normalize.py)"] = _source_normalize()
    runs: dict[str, list[Pass]] = {name: [] for name in variants}
    for _ in range(max(1, args.repeat)):
        for name, fn in variants.items():
            runs[name].append(run_once(args.rules, stream, lines, fn))
    print(f"rules: {len([r for r in rules if r.enabled])}  events: {len(stream)}  passes: {args.repeat} per variant")
    medians = {name: _report(name, sorted(passes), len(stream)) for name, passes in runs.items()}
    if len(medians) == 2:
        (a, wall_a), (b, wall_b) = medians.items()
        print(f"{a} / {b}: {wall_b / wall_a:.2f}x the events per second (medians of the same run)")
    print(f"machine: {platform.python_implementation()} {platform.python_version()}, {platform.machine()}, "
          f"{os.cpu_count()} cpus, {_cpu_model()}, load average {load:.1f} at start")


def _report(name: str, runs: list[Pass], n: int) -> float:
    """Prints one variant's figures; returns its median pass's wall time."""
    median = runs[len(runs) // 2]
    ceiling = statistics.median(r.ceiling for r in runs)
    print(f"normalize: {name}; alerts per pass: {median.alerts}")
    print(f"  throughput: median {n / median.wall:,.0f} events/s, best {n / runs[0].wall:,.0f} events/s (one thread)")
    print(f"  ceiling (orjson.loads, same passes): median {n / ceiling:,.0f} events/s; "
          f"median pass at {median.ceiling / median.wall:.1%} of its own ceiling")
    print(f"  median pass: normalising {median.normalize_only / n * 1e6:.1f} us/event, "
          f"rules {(median.wall - median.normalize_only) / n * 1e6:.1f} us/event")
    return median.wall


def _how_built(fn) -> str:
    module = sys.modules[fn.__module__]
    where = Path(module.__file__ or "?")
    if where.suffix == ".py":
        return f"pure Python: {where}"
    compiled = [name for name in ("rules.index", "rules.views", "rules.deadlines")
                if not (getattr(sys.modules.get(name), "__file__", None) or ".py").endswith(".py")]
    return f"compiled by mypyc: {where.name}; also compiled: {', '.join(compiled) or 'none'}"


def _source_normalize():
    """`normalize` from the source file, under another module name, whatever is installed."""
    spec = importlib.util.spec_from_file_location("kea_source_normalize", REPO / "watcher" / "normalize.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.normalize


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown cpu"


if __name__ == "__main__":
    main()
