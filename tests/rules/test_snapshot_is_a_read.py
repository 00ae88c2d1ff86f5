"""`Engine.snapshot()` and `open_incidents()` are reads: the daemon checkpoints every few seconds and before it hands
alert changes on, at whatever moment the stream is in, so a snapshot taken anywhere must change
nothing the engine says afterwards (it once fixed a pending drop's card before its cause was
seen: tests/rules/test_endpoints_unhealthy.py)."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rules.engine import Engine
from tests.factories import at, endpoint_slice, event, oom, pod, rec
from tests.rules.helpers import rules_from

RULES = """
- name: drop
  source: endpoints
  detector: endpoints_unhealthy
  for: 5s
- name: backoffs
  source: event
  detector: {type: frequency, threshold: 2, window: 20s}
  match: {reason: BackOff}
- name: warnings
  source: event
  detector: any
  match: {type: Warning}
  repeat_interval: 15s
"""

steps = st.lists(st.one_of(
    st.tuples(st.just("slice"), st.tuples(st.booleans(), st.booleans())),  # readiness of web-pod-0, -1
    st.tuples(st.just("oom"), st.sampled_from([0, 1])),  # an OOM of web-pod-0 or -1
    st.tuples(st.just("event"), st.sampled_from(["BackOff", "Pulled", "Unhealthy"])),
    st.tuples(st.just("wait"), st.integers(1, 30)),
), min_size=1, max_size=25)


def _records(plan):
    """(time, record or None for a tick) per step, made once: both engines see the same objects
    (resourceVersions, which incident ids are made of, come from a counter)."""
    t, restarts, out = 1.0, [0, 0], []
    for step in plan:
        t += 1
        kind, arg = step
        if kind == "slice":
            out.append((t, rec(endpoint_slice(list(arg), change=t))))
        elif kind == "oom":
            restarts[arg] += 1
            out.append((t, rec(pod(f"web-pod-{arg}", restarts=restarts[arg], last=oom(t), ready=False))))
        elif kind == "event":
            out.append((t, rec(event(f"e-{len(out)}", reason=arg, type_="Normal" if arg == "Pulled" else "Warning",
                                     last=t))))
        else:
            t += arg
            out.append((t, None))
    return out


def _run(records, snapshot_after):
    engine = Engine(rules_from(RULES, builtins=True), stale_before=at(0))
    engine.process(rec(endpoint_slice([True, True]), "ADDED"), at(1))
    said = []
    for i, (t, record) in enumerate(records):
        said.append(engine.process(record, at(t)) if record is not None else engine.tick(at(t)))
        if i in snapshot_after:
            engine.snapshot()
            engine.open_incidents()
    said.append(engine.tick(at(records[-1][0] + 60)))
    return said


@settings(max_examples=150, deadline=None)
@given(steps, st.sets(st.integers(0, 24)))
def test_a_snapshot_anywhere_changes_nothing_the_engine_says(plan, snapshot_after):
    records = _records(plan)
    assert _run(records, snapshot_after) == _run(records, set())
