"""What the daemon would decide for each alert, offline: `replay` and `rules test` with `-c`
(routes, inhibit rules) and `--silences FILE`, so a team can check before an outage that its
alerts reach the right robots and that one outage arrives as one card (issue 11).

As the dispatcher does, an alert is routed when it arrives (`Routes`: a muted route sends
nothing) and observed by the `Inhibitor`; each robot's entry is judged when it is due — its
time plus the inhibition look-ahead, or when the replay brings it if that is later — by the
notify stage's own pure `notifiers.stages.judge` (inhibited? → silenced? → send; a resolved
whose firing was not sent is not sent either). The replay clock (the newest record time)
stands in for the wall clock. Not simulated: grouping waits, escalation, and a firing held by
a silence that ends while it still fires (live, it goes out then). Decisions come out in the
engine's order, each once it is made.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Literal, Optional

from notifiers.inhibition import Inhibitor
from notifiers.outbox import OutboxEntry, Settled, entry_id, incident_of
from notifiers.routes import Routes
from notifiers.silences import Silence, Silences
from notifiers.stages import Facts, Verdict, judge
from rules.alert import Alert
from rules.yamldoc import YamlDocError, load_documents, read_bounded

ENGINE_TICK = timedelta(seconds=1)
"""How often the daemon's pipeline ticks the engine (watcher/pipeline.py `tick_seconds`)."""
Outcome = Literal["sent", "inhibited", "silenced", "muted", "unrouted"]


@dataclass(frozen=True, slots=True)
class Decision:
    alert: Alert
    outcome: Outcome
    robots: tuple[str, ...] = ()
    """The robots it is sent to (outcome `sent`)."""
    inhibitor: Optional[Alert] = None
    silence: str = ""
    """The silence id (outcome `silenced`)."""
    muted_by: str = ""
    inhibited: int = 0
    """An inhibition source: how many alerts it had inhibited when it was sent (its card says so)."""

    def values(self) -> dict[str, Any]:
        """What `--expect` can state and `--format json` prints."""
        return {"decision": self.outcome, "robots": list(self.robots),
                "inhibited_by": self.inhibitor.rule if self.inhibitor else "",
                "inhibited_by_id": self.inhibitor.id if self.inhibitor else "",
                "silenced_by": self.silence, "inhibited": self.inhibited}

    def text(self) -> str:
        if self.outcome == "sent":
            extra = f" (inhibited {self.inhibited})" if self.inhibited else ""
            return f"→ {', '.join(self.robots)}{extra}"
        if self.outcome == "inhibited":
            by = f" by {self.inhibitor.rule} {self.inhibitor.key}" if self.inhibitor is not None else ""
            return f"✗ inhibited{by}"
        if self.outcome == "silenced":
            return f"✗ silenced by {self.silence}"
        if self.outcome == "muted":
            return f"✗ muted: {self.muted_by}"
        return "✗ no robot (the route names none)"


@dataclass(slots=True)
class _Pending:
    alert: Alert
    judge_at: datetime
    robots: tuple[str, ...] = ()
    decision: Optional[Decision] = None


class Decider:
    """Feed it the replay's clock and alerts; it emits one `Decision` per alert, in order."""

    def __init__(self, *, routes: Optional[Routes], inhibitor: Optional[Inhibitor],
                 silences: Optional[Silences], emit: Callable[[Decision], None]) -> None:
        self.routes, self.inhibitor, self.silences, self.emit = routes, inhibitor, silences, emit
        self.now: Optional[datetime] = None
        self._pending: list[_Pending] = []
        self._firing: dict[tuple[str, str], Decision] = {}
        """Per (robot, incident), how its newest firing was decided (what its resolved is told)."""

    def clock(self, now: datetime) -> None:
        """The replay clock moved to `now`: judge what was due before it. What is due at `now`
        itself is judged at the next move, after the alerts of this moment are observed."""
        self.now = now
        self._judge_due(now, strictly_before=True)

    def next_due(self, after: datetime) -> Optional[datetime]:
        """While an alert is held, the engine is ticked every second, as live: what fires
        meanwhile (an endpoints alert whose `for` ends) is seen when it would be."""
        held = [p.judge_at for p in self._pending if p.decision is None and p.judge_at > after]
        return min(min(held), after + ENGINE_TICK) if held else None

    def alert(self, alert: Alert) -> None:
        """As the dispatcher's submit: observed, routed, held for its look-ahead."""
        wait = timedelta(0)
        if self.inhibitor is not None:
            self.inhibitor.observe(alert)
            wait = self.inhibitor.look_ahead(alert) if alert.status == "firing" else timedelta(0)
        arrived = max(alert.at, self.now) if self.now is not None else alert.at
        pending = _Pending(alert, max(alert.at + wait, arrived))
        pending.robots, pending.decision = self._route(alert, arrived)
        self._pending.append(pending)
        self._judge_due(arrived, strictly_before=True)

    def finish(self) -> None:
        """The replay ended: judge what is still waiting, each at its own time."""
        self._judge_due(None)

    def _judge_due(self, now: Optional[datetime], *, strictly_before: bool = False) -> None:
        due = [p for p in self._pending if p.decision is None
               and (now is None or p.judge_at < now or (p.judge_at == now and not strictly_before))]
        for p in sorted(due, key=lambda p: p.judge_at):
            p.decision = self._judge(p, p.judge_at)
        while self._pending and self._pending[0].decision is not None:
            decided = self._pending.pop(0).decision
            assert decided is not None
            self.emit(decided)

    def _route(self, alert: Alert, at: datetime) -> tuple[tuple[str, ...], Optional[Decision]]:
        """The robots it is written for, or the decision when there are none (muted, unrouted)."""
        if self.routes is None:
            return tuple(alert.notify) or ("(default route)",), None
        matches = self.routes.targets(alert, at)
        robots = tuple(dict.fromkeys(r for m in matches if m.sends for r in m.robots))
        if robots:
            return robots, None
        muted = [m.muted_by for m in matches if m.muted_by]
        return (), Decision(alert, "muted", muted_by="; ".join(muted)) if muted else Decision(alert, "unrouted")

    def _judge(self, pending: _Pending, at: datetime) -> Decision:
        """The stage's verdict (notifiers/stages.judge) for each robot's entry, combined."""
        alert, sent, held = pending.alert, [], None
        fields: dict[str, Any] = {}
        for robot in pending.robots:
            entry = OutboxEntry(id=entry_id(robot, alert), notifier=robot, alert=alert, seq=0, enqueued_at=at)
            fired = self._firing.get((robot, incident_of(alert)))
            facts = Facts(firing=Settled(0.0, result=_RESULTS[fired.outcome])) if fired is not None else Facts()
            verdict = judge(entry, at, silences=self.silences, inhibitor=self.inhibitor, facts=facts)
            decision = self._decision(alert, verdict, fired)
            if decision is None:
                sent.append(robot)
                fields = dict(verdict.fields)
            else:
                held = held or decision
            if alert.status == "firing":
                self._firing[(robot, incident_of(alert))] = decision or Decision(alert, "sent")
        if sent:
            return Decision(alert, "sent", robots=tuple(sent), inhibited=int(fields.get("inhibited", 0)))
        assert held is not None, "an alert with robots is sent to them or held"
        return held

    def _decision(self, alert: Alert, verdict: Verdict, fired: Optional[Decision]) -> Optional[Decision]:
        """None for `send`; else why it was not sent (a resolved whose firing was not: as that was)."""
        if verdict.action == "send":
            return None
        if verdict.code == "firing_not_sent" and fired is not None:
            return Decision(alert, fired.outcome, inhibitor=fired.inhibitor, silence=fired.silence)
        if verdict.result == "inhibited":
            if verdict.source is not None and self.inhibitor is not None:
                self.inhibitor.note(verdict.source, alert)  # as the worker does
            return Decision(alert, "inhibited", inhibitor=verdict.source)
        return Decision(alert, "silenced", silence=verdict.code)


_RESULTS = {"sent": "sent", "inhibited": "inhibited", "silenced": "silenced", "muted": "skipped", "unrouted": "skipped"}


class SilencesFileError(ValueError):
    """The `--silences` file cannot be used; the message names file, line and field."""


def load_silences(path: str) -> Silences:
    """A JSON or YAML list of silences in `Silence.to_dict` form (what `silence list --format
    json` prints, or the store's data_dir/silences.json)."""
    try:
        docs = load_documents(read_bounded(Path(path)), path)
    except (OSError, UnicodeDecodeError) as exc:
        raise SilencesFileError(f"{path}:0: cannot read: {exc}") from None
    except YamlDocError as exc:
        raise SilencesFileError(" ".join(str(exc).split())) from None
    data, lines = docs[0] if docs else ([], None)
    prefix: tuple[str, ...] = ()
    if isinstance(data, dict) and isinstance(data.get("silences"), list):  # data_dir/silences.json
        data, prefix = data["silences"], ("silences",)
    if not isinstance(data, list):
        raise SilencesFileError(f"{path}:1: expected a list of silences (Silence.to_dict form)")
    out = []
    for i, item in enumerate(data):
        try:
            out.append(Silence.from_dict(item))
        except ValueError as exc:
            line = lines.line((*prefix, i)) if lines is not None else 1
            raise SilencesFileError(f"{path}:{line}: silence #{i + 1}: {exc}") from None
    return Silences(out)


def endpoints_for(rules: Any) -> Optional[timedelta]:
    """The longest `for` of the loaded endpoints rules (the built-in, a renamed or per-team
    copy): the OOM look-ahead follows it. None when none is loaded (the default applies)."""
    return max((r.for_ for r in rules if r.detector.type == "endpoints_unhealthy"), default=None)


def offline_decider(cfg: Any, rules: Any, silences: Optional[Silences],
                    emit: Callable[[Decision], None]) -> Decider:
    """The stage as the daemon would run it with `cfg` (None: no config, so no routes and the
    built-in inhibit rules) and the loaded `rules`."""
    from notifiers.inhibit_rules import ENDPOINTS_FOR, parse_inhibit_rules
    from watcher.config import build_inhibit_rules, build_routes

    wait = endpoints_for(rules)
    if cfg is None:
        inhibit = parse_inhibit_rules(None, builtin=True, endpoints_for=wait or ENDPOINTS_FOR)
        return Decider(routes=None, inhibitor=Inhibitor(inhibit), silences=silences, emit=emit)
    return Decider(routes=build_routes(cfg), inhibitor=Inhibitor(build_inhibit_rules(cfg, wait)),
                   silences=silences, emit=emit)
