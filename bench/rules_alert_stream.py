"""A fingerprint of everything the engine says about the rules-only bench's mix: run it on the
code before and after a performance change, and the two must print the same lines.

    python bench/rules_alert_stream.py [--events 60000] [--seeds 7 11] [--dump FILE]

Per seed: the bench's stream (`bench/rules_throughput.py`) with deletions and LISTed copies of
earlier records mixed in, through the 50 bench rules with a tick every 500 records, then a tick
far past every window. Hashed: every alert as `to_dict()` (id, fields, summary, labels ...) in
order, the match counts, the engine snapshot and the open incidents at the end. Not a
benchmark and not a test: a check that a change meant to be faster changed nothing else.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.rules_throughput import T0, make_rules, make_stream  # noqa: E402
from rules.engine import Engine  # noqa: E402
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=60_000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[7, 11])
    ap.add_argument("--dump", type=argparse.FileType("w", encoding="utf-8"), help="also write every line hashed")
    args = ap.parse_args()
    for seed in args.seeds:
        digest, alerts = fingerprint(args.events, seed, args.dump)
        print(f"seed {seed}: {args.events} records (+ deletions, listed copies): {alerts} alerts, sha256 {digest}")


if __name__ == "__main__":
    main()
