"""Records and alerts are values although their dataclasses are not `frozen` (frozen ones cost
a third of normalise, see `rules/model.py`): nothing in the rules engine assigns to a field of a
Record, its parts, an Alert or the cluster state's observations once built. Checked by running the engine, through every detector,
restarts and a reload, with every model type refusing a second assignment to any field."""
from __future__ import annotations

import json

import pytest

from rules import model, state
from rules.alert import Alert
from rules.engine import Engine
from tests.factories import at, endpoint_slice, event, oom, pod, rec
from tests.rules.helpers import rules_from

VALUE_TYPES = (model.EventInfo, model.Termination, model.ContainerInfo, model.PodInfo, model.EndpointAddress,
               model.EndpointsInfo, model.Record, Alert, state.ServiceEndpoints, state.NewTermination,
               state.Observation)

RULES = """
- {name: backoff, source: event, detector: any, match: {reason: BackOff}, repeat_interval: 1m}
- {name: unhealthy-often, source: event, detector: {type: frequency, threshold: 2, window: 1m},
   match: {reason: Unhealthy}}
- {name: crashloop, source: pod, detector: any, match: {waiting_reason: CrashLoopBackOff}}
"""


def _set_once(self, name, value):
    """A field may be set while the object is built (its slot is still empty), never again."""
    if hasattr(self, name):
        raise AssertionError(f"{type(self).__name__}.{name} assigned after the value was built")
    object.__setattr__(self, name, value)


@pytest.fixture
def read_only_values(monkeypatch):
    for cls in VALUE_TYPES:
        monkeypatch.setattr(cls, "__setattr__", _set_once)


def test_the_guard_refuses_a_second_assignment(read_only_values):
    record = rec(event())
    with pytest.raises(AssertionError, match="Record.namespace assigned"):
        record.namespace = "other"
    with pytest.raises(AssertionError, match="EventInfo.reason assigned"):
        record.event.reason = "Other"


def _stream():
    """Every detector's records: Events (any, frequency), Pods (OOM, crash loop), EndpointSlices
    (a drop and recovery), deletions and LISTed copies."""
    yield rec(endpoint_slice([True, True]), "ADDED", listed=True), 0
    for i in range(1, 40):
        yield rec(event(f"b{i % 3}", reason="BackOff", count=i, last=i)), i
        yield rec(event(f"u{i % 2}", reason="Unhealthy", count=i, last=i, message="probe failed")), i
        if i % 7 == 0:
            yield rec(pod(restarts=i, last=oom(i), ready=False)), i
        if i in (5, 38):  # a drop that outlasts `for: 30s`, and the recovery
            yield rec(endpoint_slice([True, i == 38], change=i)), i
        if i % 11 == 0:
            yield rec(event(f"b{i % 3}", reason="BackOff", count=i, last=i), "DELETED"), i
            yield rec(pod(restarts=i, last=oom(i)), "ADDED", listed=True), i


def test_the_engine_never_changes_a_record_or_an_alert(read_only_values):
    engine = Engine(rules_from(RULES, builtins=True), stale_before=at(0))
    records, alerts = [], []
    for record, t in _stream():
        records.append((record, repr(record)))
        alerts += engine.process(record, at(t))
        alerts += engine.tick(at(t + 0.5))
    alerts += engine.tick(at(4000))
    assert {a.detector for a in alerts} == {"any", "frequency", "oom_killed", "endpoints_unhealthy"}
    told = [(a, a.to_dict()) for a in alerts]

    # a restart from the snapshot and from the history, then a reload that changes a rule
    again = Engine(rules_from(RULES, builtins=True), watched_until=at(4000))
    again.restore_snapshot(json.loads(json.dumps(engine.snapshot())), now=at(4000))
    again.restore(engine.open_incidents(), now=at(4000))
    again.replace_rules(rules_from(RULES.replace("threshold: 2", "threshold: 3"), builtins=True), at(4001))
    alerts += again.process(rec(pod(restarts=99, last=oom(4002))), at(4002))
    alerts += again.tick(at(9000))

    assert [repr(r) for r, _ in records] == [seen for _, seen in records]
    assert [a.to_dict() for a, _ in told] == [d for _, d in told]
