"""What the daemon would decide for each alert, offline: `replay` and `rules test` with `-c`
(routes, inhibit rules) and `--silences FILE`, so a team can check before an outage that its
alerts reach the right robots and that one outage arrives as one card (issue 11).

The judging is the notify stage's, on the same pure parts (`Routes`, `Inhibitor`, `Silences`):
an alert is judged when it is due — its time plus the inhibition look-ahead, or when the replay
brings it if that is later — against the sources observed by then; the replay clock (the
newest record time) stands in for the wall clock. In order: inhibited? → silenced? → sent to
the robots of the routes it ends at (a muted route sends nothing). A resolved goes nowhere if
its incident's firing was inhibited or silenced ("resolved while inhibited"). Not simulated: a
firing held by a silence that ends while it still fires (live, it goes out then). Decisions
come out in the engine's order, each once it is made.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Literal, Optional

from notifiers.inhibition import Inhibitor
from notifiers.routes import Routes
from notifiers.silences import Silence, Silences
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
        if self.outcome == "inhibited" and self.inhibitor is not None:
            return f"✗ inhibited by {self.inhibitor.rule} {self.inhibitor.key}"
        if self.outcome == "silenced":
            return f"✗ silenced by {self.silence}"
        if self.outcome == "muted":
            return f"✗ muted: {self.muted_by}"
        return "✗ no robot (the route names none)"


@dataclass(slots=True)
class _Pending:
    alert: Alert
    judge_at: datetime
    decision: Optional[Decision] = None


class Decider:
    """Feed it the replay's clock and alerts; it emits one `Decision` per alert, in order."""

    def __init__(self, *, routes: Optional[Routes], inhibitor: Optional[Inhibitor],
                 silences: Optional[Silences], emit: Callable[[Decision], None]) -> None:
        self.routes, self.inhibitor, self.silences, self.emit = routes, inhibitor, silences, emit
        self.now: Optional[datetime] = None
        self._pending: list[_Pending] = []
        self._firing: dict[str, Decision] = {}
        """Per incident, how its newest firing was decided (for its resolved)."""

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
        wait = timedelta(0)
        if self.inhibitor is not None:
            self.inhibitor.observe(alert)
            wait = self.inhibitor.look_ahead(alert)
        arrived = max(alert.at, self.now) if self.now is not None else alert.at
        self._pending.append(_Pending(alert, max(alert.at + wait, arrived)))
        self._judge_due(arrived, strictly_before=True)

    def finish(self) -> None:
        """The replay ended: judge what is still waiting, each at its own time."""
        self._judge_due(None)

    def _judge_due(self, now: Optional[datetime], *, strictly_before: bool = False) -> None:
        due = [p for p in self._pending if p.decision is None
               and (now is None or p.judge_at < now or (p.judge_at == now and not strictly_before))]
        for p in sorted(due, key=lambda p: p.judge_at):
            p.decision = self._judge(p.alert, p.judge_at)
        while self._pending and self._pending[0].decision is not None:
            decided = self._pending.pop(0).decision
            assert decided is not None
            self.emit(decided)

    def _judge(self, alert: Alert, at: datetime) -> Decision:
        incident = f"{alert.rule}|{alert.key}|{alert.incident}"
        fired = self._firing.get(incident) if alert.status == "resolved" else None
        if fired is not None and fired.outcome in ("inhibited", "silenced"):
            return Decision(alert, fired.outcome, inhibitor=fired.inhibitor, silence=fired.silence)
        decision = self._held(alert, at) or self._route(alert, at)
        if alert.status == "firing":
            self._firing[incident] = decision
        return decision

    def _held(self, alert: Alert, at: datetime) -> Optional[Decision]:
        source = self.inhibitor.inhibitor_of(alert, at) if self.inhibitor is not None else None
        if source is not None:
            assert self.inhibitor is not None
            self.inhibitor.note(source, alert)
            return Decision(alert, "inhibited", inhibitor=source)
        silence = self.silences.silencing(alert, at) if self.silences is not None else None
        if silence is not None:
            return Decision(alert, "silenced", silence=silence.id)
        return None

    def _route(self, alert: Alert, at: datetime) -> Decision:
        counted = self.inhibitor is not None and alert.status == "firing"
        inhibited = self.inhibitor.inhibited_count(alert) if counted and self.inhibitor is not None else 0
        if self.routes is None:
            robots = tuple(alert.notify) or ("(default route)",)
            return Decision(alert, "sent", robots=robots, inhibited=inhibited)
        matches = self.routes.targets(alert, at)
        robots = tuple(dict.fromkeys(r for m in matches if m.sends for r in m.robots))
        if robots:
            return Decision(alert, "sent", robots=robots, inhibited=inhibited)
        muted = [m.muted_by for m in matches if m.muted_by]
        if muted:
            return Decision(alert, "muted", muted_by="; ".join(muted))
        return Decision(alert, "unrouted")


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
    if isinstance(data, dict) and isinstance(data.get("silences"), list):
        data, prefix = data["silences"], ("silences",)
    else:
        prefix = ()
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
    """The loaded `endpoints-unhealthy` rule's `for` (the OOM look-ahead follows it), if loaded."""
    return next((r.for_ for r in rules if r.name == "endpoints-unhealthy"), None)


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
