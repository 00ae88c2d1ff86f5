"""`kube-event-alerter routes test --set namespace=shop --set rule=oom-killed -c config.yaml`:
where an alert with these fields would go, and whether a time interval mutes it at `--at`, so a
routing tree can be checked before a team's alerts depend on it (as `amtool config routes test`).
Where the route groups, waits or escalates, the answer says so too: the alert's group (its
`group_by` fields and their values), the group's timing and the escalation steps.
"""
from __future__ import annotations

import sys
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Sequence
from zoneinfo import ZoneInfo

from notifiers.clock import utcnow
from notifiers.routes import FIELDS, RouteMatch, field_value
from notifiers.samples import sample_alert
from rules.alert import Alert
from watcher.config import Config, build_routes


class UsageError(ValueError):
    """A `--set` or `--at` the command cannot use; the message says which and why."""


def routes_test(cfg: Config, settings: Sequence[str], at: str | None) -> int:
    try:
        alert = alert_from(settings, cfg.cluster)
        now = _moment(at, cfg.timezone)
    except UsageError as exc:
        print(f"routes test: {exc}", file=sys.stderr)
        return 2
    alert = replace(alert, notify=_rule_notify(cfg, alert.rule))
    for match in build_routes(cfg).targets(alert, now):
        print(" → ".join(match.path))
        state = f"  (muted: {match.muted_by})" if match.muted_by else ""
        print(f"  robots: {', '.join(match.robots) or '(none)'}{state}")
        for line in _grouping(match, alert):
            print(f"  {line}")
    return 0


def _grouping(match: RouteMatch, alert: Alert) -> list[str]:
    """The group, timing and escalation lines of one match (none where the route sets none)."""
    lines = []
    timed = (match.group_wait, match.group_interval, match.repeat_interval) != (None, None, None)
    if "..." in match.group_by:
        lines.append("group: by every field (each incident is a group of its own)")
    elif match.group_by:
        values = ", ".join(f"{f}={field_value(alert, f)}" for f in match.group_by)
        lines.append(f"group: by {', '.join(match.group_by)} ({values})")
    elif timed:
        lines.append("group: the whole route (no group_by)")
    if timed:
        repeat = _span(match.repeat_interval) if match.repeat_interval is not None else "off"
        lines.append(f"timing: group_wait {_span(match.group_wait)}, group_interval {_span(match.group_interval)}, "
                     f"repeat_interval {repeat}")
    if match.escalate:
        steps = "; ".join(f"after {_span(s.after)} → {', '.join(s.notify)}" for s in match.escalate)
        lines.append(f"escalate: {steps}")
    return lines


def _span(d: timedelta | None) -> str:
    """30s, 5m, 1h30m: as the config writes durations."""
    seconds = int((d or timedelta(0)).total_seconds())
    parts = [(seconds // 86400, "d"), (seconds % 86400 // 3600, "h"), (seconds % 3600 // 60, "m"), (seconds % 60, "s")]
    return "".join(f"{n}{unit}" for n, unit in parts if n) or "0s"


def alert_from(settings: Sequence[str], cluster: str) -> Alert:
    """A firing alert with the given fields; every other field is empty (no labels, no rule
    `notify`), severity `warning` unless set, so only what the user gave decides the route."""
    alert = replace(sample_alert("oom"), cluster=cluster, namespace="", rule="", severity="warning", kind="",
                    name="", workload_kind="", workload_name="", detector="", notify=(),
                    object_labels={}, object_annotations={})
    changes: dict[str, object] = {}
    labels, annotations = {}, {}
    for setting in settings:
        key, sep, value = setting.partition("=")
        if not sep:
            raise UsageError(f"--set {setting!r}: expected FIELD=VALUE")
        if key.startswith("labels.") and len(key) > 7:
            labels[key[7:]] = value
        elif key.startswith("annotations.") and len(key) > 12:
            annotations[key[12:]] = value
        elif key == "workload":
            changes["workload_name"] = value
        elif key in FIELDS:
            changes[key] = value
        else:
            from notifiers.timeintervals import suggest

            raise UsageError(f"--set {setting!r}: unknown field `{key}`{suggest(key, FIELDS)}; expected one of "
                             f"{', '.join(FIELDS)}, labels.<key> or annotations.<key>")
    if changes.get("status", "firing") not in ("firing", "resolved"):
        raise UsageError("--set status: expected firing or resolved")
    return replace(alert, object_labels=labels, object_annotations=annotations, **changes)  # type: ignore[arg-type]


def _rule_notify(cfg: Config, name: str) -> tuple[str, ...]:
    """The `notify` of the config's rule called `name`: it wins over the tree, so the answer
    must show it (amtool knows no rules; here a rule may name its robots)."""
    if not name:
        return ()
    from watcher.validation import check_rules

    loaded = check_rules(cfg.rules.paths, builtins=cfg.rules.builtins, notifiers=cfg.notifiers)
    for problem in loaded.problems:
        print(f"note: {problem} (rules not consulted)", file=sys.stderr)
    return next((tuple(r.notify) for r in loaded.rules if r.name == name), ())


def _moment(at: str | None, zone: str) -> datetime:
    if not at:
        return utcnow()
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        raise UsageError(f"--at {at!r}: expected an ISO 8601 time like 2026-12-01T03:00:00+08:00") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(zone))
