"""A fingerprint of everything the engine says about the rules-only bench's mix: run it on the
code before and after a performance change, and the two must print the same lines.

    python bench/rules_alert_stream.py [--events 60000] [--seeds 7 11] [--dump FILE]

Per seed: the bench's stream (`bench/rules_throughput.py`) with deletions and LISTed copies of
earlier records mixed in, through the 50 bench rules with a tick every 500 records, then a tick
far past every window. Hashed: every alert as `to_dict()` (id, fields, summary, labels ...) in
order, the match counts, the engine snapshot and the open incidents at the end. Then a second
line: random Event streams with late and same-second timestamps and random ticks, through
frequency rules (with and without `for`) and an `any` rule: the bench's mix has no ties, and
the order of alerts due at the same moment is behaviour too. Not a benchmark and not a test:
a check that a change meant to be faster changed nothing else.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from datetime import datetime, timedelta
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[1]))  # after site-packages: an installed (compiled) package first

from bench.rules_throughput import T0, make_rules, make_stream  # noqa: E402
from rules.engine import Engine  # noqa: E402
from rules.loader import load_text  # noqa: E402
from watcher.normalize import normalize  # noqa: E402


def _records(n: int, seed: int):
    """The bench's mix, plus a deletion of every 17th object and a LISTed copy of every 23rd."""
    for i, (wt, obj) in enumerate(make_stream(n, seed=seed)):
        yield normalize(wt, obj, cluster="bench")
        if i % 17 == 5:
            yield normalize("DELETED", obj, cluster="bench")
        if i % 23 == 7:
            yield normalize("ADDED", obj, cluster="bench", listed=True)


def _told(alert) -> str:
    return json.dumps(alert.to_dict(), sort_keys=True, default=str, ensure_ascii=False)


def fingerprint(n: int, seed: int, dump) -> tuple[str, int]:
    engine, now, lines = Engine(make_rules(50), stale_before=T0), T0, []
    for i, record in enumerate(_records(n, seed)):
        if record.timestamp is not None and record.timestamp > now:
            now = record.timestamp
        lines.extend(_told(a) for a in engine.process(record, now))
        if i % 500 == 0:
            lines.extend(_told(a) for a in engine.tick(now))
    lines.extend(_told(a) for a in engine.tick(now + timedelta(hours=2)))
    alerts = len(lines)
    lines.append(json.dumps(engine.match_counts, sort_keys=True))
    lines.append(json.dumps(engine.snapshot(), sort_keys=True, default=str, ensure_ascii=False))
    lines.extend(_told(a) for a in engine.open_incidents())
    if dump is not None:
        dump.write("\n".join(lines) + "\n")
    return hashlib.sha256("\n".join(lines).encode()).hexdigest(), alerts


def _event(rnd: random.Random, t: datetime) -> dict:
    return {"kind": "Event", "metadata": {"name": f"e{rnd.randrange(8)}", "namespace": rnd.choice("ab"),
                                          "uid": f"u{rnd.randrange(8)}", "resourceVersion": str(rnd.randrange(10**6))},
            "involvedObject": {"kind": "Pod", "name": f"p{rnd.randrange(3)}", "namespace": "a"},
            "reason": rnd.choice(["BackOff", "Pulled"]), "type": rnd.choice(["Warning", "Normal"]),
            "message": "m", "count": rnd.randint(1, 6), "lastTimestamp": t.strftime("%Y-%m-%dT%H:%M:%SZ")}


def random_streams(seeds: int) -> tuple[str, int]:
    """Alerts of random Event streams (late, same-second and deleted Events, random ticks)."""
    lines = []
    for seed in range(seeds):
        rnd = random.Random(seed)
        text = f"""
- {{name: f1, source: event, match: {{reason: BackOff}}, detector: {{type: frequency, threshold: {rnd.randint(1, 4)}, window: {rnd.choice(['20s', '1m'])}}}}}
- {{name: f2, source: event, match: {{type: Warning}}, detector: {{type: frequency, threshold: 2, window: 45s}}, group_by: [namespace]{', for: 10s' if rnd.random() < 0.5 else ''}}}
- {{name: a1, source: event, match: {{reason: BackOff, type: Warning}}, detector: any, repeat_interval: 30s}}
"""
        engine, now = Engine(load_text(text, "random.yaml").rules, stale_before=T0), T0
        for _ in range(400):
            now += timedelta(seconds=rnd.choice([0, 1, 2, 5, 15]))
            when = now - timedelta(seconds=rnd.choice([0, 0, 0, 3, 30, 90]))
            watch_type = rnd.choice(["ADDED", "MODIFIED", "MODIFIED", "DELETED"])
            lines.extend(_told(a) for a in engine.process(normalize(watch_type, _event(rnd, when), cluster="r"), now))
            if rnd.random() < 0.3:
                lines.extend(_told(a) for a in engine.tick(now))
    return hashlib.sha256("\n".join(lines).encode()).hexdigest(), len(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=60_000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[7, 11])
    ap.add_argument("--dump", type=argparse.FileType("w", encoding="utf-8"), help="also write every line hashed")
    args = ap.parse_args()
    for seed in args.seeds:
        digest, alerts = fingerprint(args.events, seed, args.dump)
        print(f"seed {seed}: {args.events} records (+ deletions, listed copies): {alerts} alerts, sha256 {digest}")
    digest, alerts = random_streams(60)
    print(f"60 random Event streams of 400: {alerts} alerts, sha256 {digest}")


if __name__ == "__main__":
    main()
