"""A restart anywhere says what an unbroken run says: the engine of a daemon restarted between
any two changes (its checkpoint: the snapshot, `watched_until` = the save time − MARGIN; then the
first LIST of every object and `reconcile`) produces the same set of alert ids as an engine
that ran through. Ids are what the outbox, the history and Elasticsearch refuse a second copy
of, so an id said again after a restart is never sent twice; an id missing, or a new one, would
be a lost or a repeated notification."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from rules.engine import Engine
from tests.factories import at, endpoint_slice, event, oom, pod, rec
from tests.rules.helpers import rules_from

MARGIN = timedelta(seconds=60)  # watcher/checkpoint.py: watched_until is a save's time − MARGIN

RULES = """
- name: drop
  source: endpoints
  detector: endpoints_unhealthy
  for: 5s
- name: warnings
  source: event
  detector: any
  match: {type: Warning}
  repeat_interval: 15s
- name: backoffs
  source: event
  detector: {type: frequency, threshold: 2, window: 20s}
  match: {reason: BackOff}
"""

changes = st.one_of(
    st.tuples(st.just("slice"), st.tuples(st.booleans(), st.booleans())),  # readiness of web-pod-0, -1
    st.tuples(st.just("oom"), st.sampled_from([0, 1])),  # an OOM of web-pod-0 or -1
    st.tuples(st.just("event"), st.sampled_from(["BackOff", "Pulled", "Unhealthy"])),
    st.tuples(st.just("repeat"), st.just(None)),  # the last Event again, its count + 1
    st.tuples(st.just("wait"), st.integers(1, 30)),
)


def _records(plan):
    """(time, record or None for a tick) per step, made once so both runs see the same objects
    (incident ids carry resourceVersions, which come from a counter)."""
    t, restarts, out, last_event = 1.0, [0, 0], [], None
    for kind, arg in plan:
        t += 1
        if kind == "slice":
            out.append((t, rec(endpoint_slice(list(arg), change=t))))
        elif kind == "oom":
            restarts[arg] += 1
            out.append((t, rec(pod(f"web-pod-{arg}", restarts=restarts[arg], last=oom(t), ready=False))))
        elif kind == "event" or (kind == "repeat" and last_event is None):
            reason = arg or "BackOff"
            last_event = (f"e-{len(out)}", reason, 1, t)
            out.append((t, rec(event(last_event[0], reason=reason, type_="Normal" if reason == "Pulled" else "Warning",
                                     last=t))))
        elif kind == "repeat":
            name, reason, count, first = last_event
            last_event = (name, reason, count + 1, first)
            out.append((t, rec(event(name, reason=reason, type_="Normal" if reason == "Pulled" else "Warning",
                                     count=count + 1, first=first, last=t))))
        else:
            t += arg
            out.append((t, None))
    return out


def _engine(**kw) -> Engine:
    return Engine(rules_from(RULES, builtins=True), **kw)


def _feed(engine, steps, ids, latest):
    for t, record in steps:
        out = engine.process(record, at(t)) if record is not None else engine.tick(at(t))
        ids.extend(a.id for a in out)
        if record is not None:
            latest[(record.kind, record.namespace, record.name)] = record


def _through(records):
    engine, ids = _engine(stale_before=at(0)), []
    _feed(engine, [(1, rec(endpoint_slice([True, True]), "ADDED"))] + records, ids, {})
    ids.extend(a.id for a in engine.tick(at(records[-1][0] + 120)))
    return ids


def _restarted(records, restarts):
    """Stopped after each `cut` steps (a checkpoint saved then) and started `down` s later,
    before the next change: the first LIST shows every object as the last run last saw it."""
    engine, ids, latest, done = _engine(stale_before=at(0)), [], {}, 0
    _feed(engine, [(1, rec(endpoint_slice([True, True]), "ADDED"))], ids, latest)
    for cut, down in restarts:
        _feed(engine, records[done:cut], ids, latest)
        done, saved_at = cut, at(records[cut - 1][0] if cut else 1)
        snapshot, start = engine.snapshot(), saved_at + timedelta(seconds=down)
        engine = _engine(watched_until=saved_at - MARGIN)
        engine.restore_snapshot(snapshot, now=start)
        for record in latest.values():  # the first LIST: every object as it stands
            ids.extend(a.id for a in engine.process(replace(record, watch_type="ADDED", listed=True), start))
        engine.defer(engine.reconcile(start))
        ids.extend(a.id for a in engine.tick(start))
    _feed(engine, records[done:], ids, latest)
    ids.extend(a.id for a in engine.tick(at(records[-1][0] + 120)))
    return ids


def _restarts(records):
    """(cut, longest downtime) where a restart changes nothing the cluster does: after the
    last step, or within a wait (a change made while nobody watches is another matter: the
    LIST shows where it ended, not how it got there)."""
    out = [(len(records), 90)]
    previous = 1.0
    for i, (t, record) in enumerate(records):
        if record is None:
            out.append((i, int(t - previous) - 1))
        previous = t
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(changes, min_size=1, max_size=20), st.data())
def test_a_restart_anywhere_says_the_same_alert_ids(plan, data):
    records = _records(plan)
    points = data.draw(st.lists(st.sampled_from(_restarts(records)), min_size=1, max_size=2,
                                unique_by=lambda p: p[0]), label="restarts")
    restarts = sorted((cut, data.draw(st.integers(0, max(0, longest)), label="down")) for cut, longest in points)
    assert set(_restarted(records, restarts)) == set(_through(records))


def test_the_restarts_that_repeated_a_warning_and_flapped_a_frequency_alert():
    # a folded repeat, the fold window ending while stopped: the Event was announced again
    # (a new id) and the fold's count lost
    records = _records([("event", "BackOff"), ("repeat", None), ("wait", 20)])
    assert set(_restarted(records, [(2, 14)])) == set(_through(records))
    # a firing frequency alert: the LIST's first copy (1 of 2 in the window) resolved it, the
    # second fired it again (a 【恢复】 and a new 【告警】 for one condition)
    records = _records([("event", "BackOff"), ("event", "BackOff"), ("repeat", None)])
    assert set(_restarted(records, [(3, 0)])) == set(_through(records))
    # the same, settled after the LIST instead: resolved, then a later repeat fired it again
    records = _records([("repeat", None), ("repeat", None), ("wait", 1), ("repeat", None)])
    assert set(_restarted(records, [(2, 1)])) == set(_through(records))
    # a window restored as one hit at its last occurrence outlived the real one: the two
    # incidents of an unbroken run became one (the second firing lost)
    records = _records([("event", "BackOff"), ("oom", 0), ("oom", 0), ("oom", 0), ("event", "BackOff"), ("wait", 1),
                        ("wait", 13), ("event", "BackOff")])
    assert set(_restarted(records, [(5, 0)])) == set(_through(records))


def test_what_closed_incidents_counted_is_kept_longer_than_the_checkpoints_margin():
    from rules.seen import RECENT
    from watcher.checkpoint import MARGIN as CHECKPOINT_MARGIN

    assert CHECKPOINT_MARGIN == MARGIN and RECENT >= MARGIN + timedelta(minutes=1)


def test_a_second_restart_soon_after_still_knows_what_the_first_run_counted():
    warning = rec(event("e-0", reason="BackOff", last=2))
    first = _engine(stale_before=at(0))
    assert [a.status for a in first.process(warning, at(2))] == ["firing"]
    listed = replace(warning, watch_type="ADDED", listed=True)
    snapshot, start = first.snapshot(), at(30)  # stopped at 2, started at 30: the fold window (15 s) is over
    for _ in range(2):  # started, checkpointed before its LIST was read, started again
        engine = _engine(watched_until=at(2) - MARGIN)
        engine.restore_snapshot(snapshot, now=start)
        snapshot = engine.snapshot()
    assert engine.process(listed, start) == []
