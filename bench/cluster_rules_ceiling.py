"""Rules only, next to its ceiling: events/s through orjson + normalise + 50 rules on watch
lines, next to orjson alone parsing the same lines, one core, and where the time goes.

    python bench/cluster_rules_ceiling.py [--events 100000] [--rules 50] [--profile 15]

The lines are bench/rules_throughput.py's mix (70% Events, 20% Pod status, 10% EndpointSlices)
serialised as the apiserver streams them (`{"type": ..., "object": ...}` per line). Prints
events/s for: orjson.loads alone (the ceiling: a reader can go no faster than it parses),
+ normalize, + Engine.process; then the top --profile functions by own time (cProfile) of
the full path, so the gap to the ceiling has names.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.cluster_common import machine  # noqa: E402
from bench.rules_throughput import T0, make_rules, make_stream  # noqa: E402
from rules.engine import Engine  # noqa: E402
from watcher.gctune import freeze_startup_state, tune_gc  # noqa: E402
from watcher.normalize import normalize  # noqa: E402


def parse_only(lines: list[bytes]) -> None:
    for line in lines:
        orjson.loads(line)


def parse_normalize(lines: list[bytes]) -> None:
    for line in lines:
        ev = orjson.loads(line)
        normalize(ev["type"], ev["object"], cluster="bench")


def full(rules, lines: list[bytes]) -> int:
    engine = Engine(rules, stale_before=T0)
    now, alerts = T0, 0
    for i, line in enumerate(lines):
        ev = orjson.loads(line)
        record = normalize(ev["type"], ev["object"], cluster="bench")
        if record.timestamp is not None and record.timestamp > now:
            now = record.timestamp
        alerts += len(engine.process(record, now))
        if i % 1000 == 0:
            alerts += len(engine.tick(now))
    return alerts


def best_of(fn, repeat: int, setup=lambda: ()) -> float:
    """Fastest of `repeat` runs of `fn(*setup())`; `setup` is not timed."""
    best = float("inf")
    for _ in range(repeat):
        args = setup()
        t = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - t)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--rules", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--profile", type=int, default=15, help="functions to list (0: no profile)")
    args = ap.parse_args()
    rules = make_rules(args.rules)
    lines = [orjson.dumps({"type": t, "object": o}) for t, o in make_stream(args.events)]
    tune_gc()
    freeze_startup_state()
    n = len(lines)
    print(f"machine: {machine()}")
    parse = best_of(lambda: parse_only(lines), args.repeat)
    norm = best_of(lambda: parse_normalize(lines), args.repeat)
    # Fresh rules per run: a detector keeps its memory in the rule (frequency windows).
    whole = best_of(lambda fresh: full(fresh, lines), args.repeat, setup=lambda: (make_rules(args.rules),))
    print(f"lines: {n}, rules: {len([r for r in rules if r.enabled])}, best of {args.repeat}")
    print(f"orjson.loads only (ceiling): {n / parse:,.0f} events/s  ({parse / n * 1e6:.1f} us/event)")
    print(f"+ normalize:                 {n / norm:,.0f} events/s  ({(norm - parse) / n * 1e6:.1f} us/event more)")
    print(f"+ rules (Engine.process):    {n / whole:,.0f} events/s  ({(whole - norm) / n * 1e6:.1f} us/event more)")
    print(f"full path / ceiling: {parse / whole:.0%}")
    if args.profile:
        prof = cProfile.Profile()
        prof.runcall(full, make_rules(args.rules), lines)
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(args.profile)
        print("profile of the full path, by own time:")
        print("\n".join(out.getvalue().splitlines()[4:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
