"""`kube-event-alerter` command line: run, replay, rules lint, rules test, notify test, events, config check,
routes test, silence add/list/expire.

Exit codes: 0 success; 1 a check failed (lint errors, expectation mismatch, bad input records,
cluster credentials `run` could not load); 2 usage or configuration error.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import TYPE_CHECKING, Callable, Sequence

from rules.alert import Alert
from rules.loader import load_rule_set
from watcher.replay import replay

if TYPE_CHECKING:
    from watcher.decisions import Decision

log = logging.getLogger("kea.cli")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help(sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except BrokenPipeError:  # `... | head`
        return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kube-event-alerter", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(metavar="COMMAND")

    run = sub.add_parser("run", help="run the daemon")
    run.add_argument("-c", "--config", required=True, help="config file (see config.example.yaml)")
    run.add_argument("--replay", nargs="+", metavar="FILE",
                     help="feed these recordings instead of watching a cluster (demo, soak tests)")
    run.set_defaults(func=_cmd_run)

    rp = sub.add_parser("replay", help="feed recorded watch streams through the rules, print what would be sent")
    rp.add_argument("files", nargs="+", metavar="FILE")
    rp.add_argument("-r", "--rules", action="append", default=[], metavar="PATH", help="rule file or directory (repeatable)")
    rp.add_argument("--no-builtins", action="store_true", help="leave out the built-in rules")
    rp.add_argument("--format", choices=("text", "json"), default="text")
    rp.add_argument("--cluster", default="replay", help="cluster name to stamp on records")
    _honour_arguments(rp)
    rp.set_defaults(func=_cmd_replay)

    rules = sub.add_parser("rules", help="rule file tools").add_subparsers(metavar="ACTION")
    lint = rules.add_parser("lint", help="validate rule files: file:line: message, exit 1 on any error")
    lint.add_argument("paths", nargs="+", metavar="PATH")
    lint.add_argument("-c", "--config", help="also check `notify` names against this config's notifiers")
    lint.set_defaults(func=_cmd_lint)
    test = rules.add_parser("test", help="run one rule file over a recording; compare with --expect")
    test.add_argument("rule_file")
    test.add_argument("recording", nargs="+")
    test.add_argument("--expect", help="YAML file listing the expected alerts (see README)")
    test.add_argument("--format", choices=("text", "json"), default="text")
    _honour_arguments(test)
    test.set_defaults(func=_cmd_rules_test)

    notify = sub.add_parser("notify", help="notifier tools").add_subparsers(metavar="ACTION")
    nt = notify.add_parser("test", help="send a sample alert through a configured notifier, print the answer")
    nt.add_argument("name")
    nt.add_argument("-c", "--config", required=True)
    nt.add_argument("--kind", choices=("oom", "unhealthy"), default="oom")
    nt.set_defaults(func=_cmd_notify_test)

    from watcher.search.cli import add_parser as add_events_parser

    add_events_parser(sub, _cmd_events)

    cfg = sub.add_parser("config", help="config tools").add_subparsers(metavar="ACTION")
    check = cfg.add_parser("check", help="validate a config file and the rules it names")
    check.add_argument("-c", "--config", required=True)
    check.set_defaults(func=_cmd_config_check)

    routes = sub.add_parser("routes", help="routing tree tools").add_subparsers(metavar="ACTION")
    rt = routes.add_parser("test", help="print the route(s) and robots an alert with these fields goes to")
    rt.add_argument("-c", "--config", required=True)
    rt.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", dest="settings",
                    help="alert field: namespace, rule, severity, workload, labels.team, ... (repeatable)")
    rt.add_argument("--at", metavar="TIME", help="judge time intervals at this ISO 8601 time (default: now; "
                                                 "without an offset: in the config's timezone)")
    rt.set_defaults(func=_cmd_routes_test)

    from watcher.silences.cli import add_parser as add_silence_parser

    add_silence_parser(sub, _cmd_silence)
    return p


def _honour_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", help="decide as the daemon would: this config's routes (robots) "
                                          "and inhibit rules, printed with each alert")
    p.add_argument("--silences", metavar="FILE", help="JSON/YAML list of silences (Silence.to_dict form) "
                                                      "that hold alerts, as the daemon's would")


# -- replay and rules -------------------------------------------------------------------------


def _printer(fmt: str) -> Callable[[Alert], None]:
    def text(a: Alert) -> None:
        at = a.at.strftime("%Y-%m-%dT%H:%M:%SZ")
        print(f"{at}  {a.status.upper():<8}  {a.severity:<8}  {a.rule:<20}  {a.namespace}/{a.kind}/{a.name}  {a.summary}")

    def as_json(a: Alert) -> None:
        print(json.dumps({
            "rule": a.rule, "status": a.status, "severity": a.severity, "namespace": a.namespace,
            "kind": a.kind, "name": a.name, "key": a.key, "summary": a.summary, "at": a.at.isoformat(),
            "started_at": a.started_at.isoformat(), "count": a.count, "workload": a.workload, "id": a.id,
        }, ensure_ascii=False))

    return as_json if fmt == "json" else text


def _decision_printer(fmt: str) -> Callable[["Decision"], None]:
    show = _printer(fmt)

    def text(d: "Decision") -> None:
        show(d.alert)
        print(f"    {d.text()}")

    def as_json(d: "Decision") -> None:
        a = d.alert
        print(json.dumps({
            "rule": a.rule, "status": a.status, "severity": a.severity, "namespace": a.namespace,
            "kind": a.kind, "name": a.name, "key": a.key, "summary": a.summary, "at": a.at.isoformat(),
            "started_at": a.started_at.isoformat(), "count": a.count, "workload": a.workload, "id": a.id,
            **d.values()}, ensure_ascii=False))

    return as_json if fmt == "json" else text


def _honouring(args: argparse.Namespace, rules, emit: Callable[["Decision"], None]):
    """The offline notify stage when `-c` or `--silences` is given; None without; False after
    reporting a config or silences file that cannot be used."""
    from watcher.decisions import SilencesFileError, load_silences, offline_decider

    if not args.config and not args.silences:
        return None
    cfg = _load_config_or_report(args.config) if args.config else None
    if args.config and cfg is None:
        return False
    try:
        silences = load_silences(args.silences) if args.silences else None
    except SilencesFileError as exc:
        print(exc, file=sys.stderr)
        return False
    return offline_decider(cfg, rules, silences, emit)


def _problem(where: str, message: str) -> None:
    print(f"{where}: {message}", file=sys.stderr)


def _load_rules_or_report(paths: Sequence[str], builtins: bool, packs: Sequence[str] = ()):
    result = load_rule_set(paths, builtins=builtins, packs=packs)
    for p in result.problems:
        print(p, file=sys.stderr)
    return result


def _cmd_replay(args: argparse.Namespace) -> int:
    loaded = _load_rules_or_report(args.rules, not args.no_builtins)
    if not loaded.ok:
        return 1
    decider = _honouring(args, loaded.rules, _decision_printer(args.format))
    if decider is False:
        return 2
    emit = decider.alert if decider else _printer(args.format)
    stats = replay(args.files, loaded.rules, cluster=args.cluster, emit=emit, on_problem=_problem,
                   stage=decider or None)
    if decider:
        decider.finish()
    print(f"replayed {stats.records} records, {stats.alerts} notifications, skipped {stats.skipped_total}"
          + (f" ({', '.join(f'{k}={v}' for k, v in sorted(stats.skipped.items()))})" if stats.skipped else ""),
          file=sys.stderr)
    return 1 if stats.skipped_total else 0


def _cmd_lint(args: argparse.Namespace) -> int:
    from rules.loader import expand
    from watcher.validation import check_rules

    notifiers = None
    if args.config:
        cfg = _load_config_or_report(args.config)
        if cfg is None:
            return 2
        notifiers = cfg.notifiers
    paths = expand(args.paths)
    missing = [str(p) for p in paths if not p.exists()]
    result = check_rules([p for p in paths if p.exists()], builtins=False, notifiers=notifiers)
    for m in missing:
        print(f"{m}:0: no such file or directory", file=sys.stderr)
    for p in result.problems:
        print(p, file=sys.stderr)
    bad = len(result.problems) + len(missing)
    print(f"{len(result.rules)} rules OK" if not bad else f"{bad} problems", file=sys.stderr)
    if notifiers is None:
        print("note: notifier names in `notify` were not checked; give the config with -c to check them", file=sys.stderr)
    return 1 if bad else 0


def _cmd_rules_test(args: argparse.Namespace) -> int:
    from watcher.expectations import ExpectationError, compare, load_expectations

    loaded = _load_rules_or_report([args.rule_file], builtins=False)
    if not loaded.ok:
        return 1
    try:  # before the replay: a run that cannot be judged is not worth printing
        expected = load_expectations(args.expect) if args.expect else None
    except ExpectationError as exc:
        print(exc, file=sys.stderr)
        return 2
    fired: list[Alert] = []
    decided: list[dict] = []
    show, show_decision = _printer(args.format), _decision_printer(args.format)

    def emit(a: Alert) -> None:
        fired.append(a)
        show(a)

    def emit_decision(d: "Decision") -> None:
        fired.append(d.alert)
        decided.append(d.values())
        show_decision(d)

    decider = _honouring(args, loaded.rules, emit_decision)
    if decider is False:
        return 2
    stats = replay(args.recording, loaded.rules, emit=decider.alert if decider else emit, on_problem=_problem,
                   stage=decider or None)
    if decider:
        decider.finish()
    print(f"{len(fired)} notifications from {stats.records} records", file=sys.stderr)
    if expected is None:
        return 1 if stats.skipped_total else 0
    mismatches = compare(expected, fired, decided if decider else None)
    for m in mismatches:
        print(f"MISMATCH: {m}", file=sys.stderr)
    print("expectations met" if not mismatches else f"{len(mismatches)} mismatches", file=sys.stderr)
    return 1 if mismatches or stats.skipped_total else 0


# -- daemon and config ------------------------------------------------------------------------


def _load_config_or_report(path: str):
    from watcher.config import ConfigError, load_config

    try:
        return load_config(path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return None


def _cmd_config_check(args: argparse.Namespace) -> int:
    cfg = _load_config_or_report(args.config)
    if cfg is None:
        return 2
    from watcher.validation import check_rules

    loaded = check_rules(cfg.rules.paths, builtins=cfg.rules.builtins, notifiers=cfg.notifiers,
                         packs=cfg.rules.packs)
    for p in loaded.problems:
        print(p, file=sys.stderr)
    if not loaded.ok:
        return 1
    print(f"{args.config}: OK ({len(loaded.rules)} rules, {len(cfg.notifiers)} notifiers)", file=sys.stderr)
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from watcher.daemon import run_daemon
    from watcher.kube.client import KubeconfigError

    cfg = _load_config_or_report(args.config)
    if cfg is None:
        return 2
    try:
        return run_daemon(cfg, replay_files=args.replay)
    except KubeconfigError as exc:  # the config was fine; the credentials it names are not
        key = f"kubernetes.{exc.key}: " if cfg.kubernetes.kubeconfig else ""
        print(f"{args.config}: {key}{exc}", file=sys.stderr)
        return 1


def _cmd_notify_test(args: argparse.Namespace) -> int:
    from watcher.notify_cli import notify_test

    cfg = _load_config_or_report(args.config)
    if cfg is None:
        return 2
    return notify_test(cfg, args.name, args.kind)


def _cmd_events(args: argparse.Namespace) -> int:
    from watcher.search.cli import run

    return run(args)


def _cmd_routes_test(args: argparse.Namespace) -> int:
    from watcher.routes_cli import routes_test

    cfg = _load_config_or_report(args.config)
    if cfg is None:
        return 2
    return routes_test(cfg, args.settings, args.at)


def _cmd_silence(args: argparse.Namespace) -> int:
    from watcher.silences.cli import run

    return run(args)


if __name__ == "__main__":
    sys.exit(main())
