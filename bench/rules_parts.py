"""Where the rules-only time goes: CPU microseconds per record of normalise alone, and of
`Engine.process` with no rules, then with each family of the bench's 50 rules alone, then all.

    python bench/rules_parts.py [--events 200000]

The difference between a family's line and the no-rules line is what that family costs per
record. CPU time (not wall), fastest of 3, fresh rules each time: steadier than wall figures
on a shared machine.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[1]))  # after site-packages: an installed (compiled) package first

from bench.rules_throughput import T0, make_rules, make_stream  # noqa: E402
from rules.engine import Engine  # noqa: E402
from watcher.gctune import freeze_startup_state, tune_gc  # noqa: E402
from watcher.normalize import normalize  # noqa: E402

FAMILIES = [
    ("no rules", lambda r: False),
    ("10 frequency", lambda r: r.detector.type == "frequency"),
    ("38 any", lambda r: r.detector.type == "any"),
    ("2 built-in", lambda r: r.detector.type in ("oom_killed", "endpoints_unhealthy")),
    ("all 50", lambda r: True),
]


def process_all(rules, records) -> None:
    engine, now = Engine(rules, stale_before=T0), T0
    for i, record in enumerate(records):
        if record.timestamp is not None and record.timestamp > now:
            now = record.timestamp
        engine.process(record, now)
        if i % 1000 == 0:
            engine.tick(now)


def fastest(fn, make_args, n: int, repeat: int = 3) -> float:
    """CPU µs per record of the fastest of `repeat` runs; `make_args` is not timed."""
    best = float("inf")
    for _ in range(repeat):
        args = make_args()
        t = time.process_time()
        fn(*args)
        best = min(best, time.process_time() - t)
    return best / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=200_000)
    args = ap.parse_args()
    stream = make_stream(args.events)
    tune_gc()
    freeze_startup_state()
    n = len(stream)
    records = [normalize(wt, obj, cluster="bench") for wt, obj in stream]
    norm = fastest(lambda: [normalize(wt, obj, cluster="bench") for wt, obj in stream], lambda: (), n)
    print(f"normalize alone: {norm:.2f} us/record")
    for name, wanted in FAMILIES:
        us = fastest(process_all, lambda: ([r for r in make_rules(50) if wanted(r)], records), n)
        print(f"process, {name}: {us:.2f} us/record")


if __name__ == "__main__":
    main()
