"""History and news across a restart: the checkpoint boundary and the incident snapshot."""
import json

from rules.engine import Engine
from rules.loader import load_rule_set
from tests.factories import at, endpoint_slice, oom, pod, rec
from tests.rules.helpers import builtin_engine


def resumed(snapshot=None, *, until: float):
    """A restarted engine: the built-ins, the checkpoint `until`, the saved incidents."""
    eng = Engine(load_rule_set([]).rules, watched_until=at(until))
    if snapshot is not None:
        eng.restore_snapshot(json.loads(json.dumps(snapshot)), now=at(until))
    return eng


def test_an_oom_after_the_start_that_arrives_in_the_first_list_fires():
    eng = builtin_engine(start=100)
    fired = eng.process(rec(pod(restarts=1, last=oom(101)), "ADDED", listed=True), at(102))
    assert [(a.rule, a.status) for a in fired] == [("oom-killed", "firing")]
    # and the same termination in the next watch event is not a second alert
    assert eng.process(rec(pod(restarts=1, last=oom(101), ready=True)), at(110)) == []


def test_an_oom_while_nobody_watched_fires_after_the_checkpoint():
    eng = resumed(until=100)  # the last run watched until 100; this one lists at 500
    assert eng.process(rec(pod(restarts=2, last=oom(300)), "ADDED", listed=True), at(500))[0].rule == "oom-killed"
    old = resumed(until=100)
    assert old.process(rec(pod(restarts=2, last=oom(90)), "ADDED", listed=True), at(500)) == []


def test_a_pending_for_survives_a_restart_and_fires_once():
    eng = builtin_engine()  # endpoints-unhealthy: for 30s
    eng.process(rec(endpoint_slice([True, True]), "ADDED"), at(0))
    eng.process(rec(endpoint_slice([True, False], change=10)), at(10))
    snap = eng.snapshot()  # killed at 39, just before the firing at 40
    again = resumed(snap, until=38)
    # restarted at 45: the condition has held since 10, longer than `for`: it fires now, once
    fired = again.process(rec(endpoint_slice([True, False], change=10), "ADDED", listed=True), at(45))
    assert [(a.status, a.started_at) for a in fired] == [("firing", at(10))]
    assert again.tick(at(46)) == [] and again.tick(at(200)) == []


def test_a_pending_for_restored_fires_when_its_time_comes():
    eng = builtin_engine()
    eng.process(rec(endpoint_slice([True, True]), "ADDED"), at(0))
    eng.process(rec(endpoint_slice([True, False], change=10)), at(10))
    again = resumed(eng.snapshot(), until=20)
    assert again.process(rec(endpoint_slice([True, False], change=10), "ADDED", listed=True), at(25)) == []
    fired = again.tick(at(41))
    assert [(a.status, a.fields["ready"], a.fields["total"]) for a in fired] == [("firing", 1, 2)]


def test_a_firing_incident_resolves_out_loud_after_a_restart():
    eng = builtin_engine()
    eng.process(rec(endpoint_slice([True, True]), "ADDED"), at(0))
    eng.process(rec(endpoint_slice([True, False], change=10)), at(10))
    (fired,) = eng.tick(at(41))
    again = resumed(eng.snapshot(), until=50)
    assert again.process(rec(endpoint_slice([True, False], change=10), "ADDED", listed=True), at(60)) == []
    (resolved,) = again.process(rec(endpoint_slice([True, True], change=70)), at(70))
    assert (resolved.status, resolved.incident, resolved.fields["ready"]) == ("resolved", fired.incident, 2)


def test_a_primed_incident_stays_quiet_after_a_restart():
    eng = builtin_engine(start=0)
    eng.process(rec(endpoint_slice([True, False]), "ADDED", listed=True), at(0))  # unhealthy before we began
    again = resumed(eng.snapshot(), until=30)
    assert again.process(rec(endpoint_slice([True, False]), "ADDED", listed=True), at(60)) == []
    assert again.tick(at(200)) == []
    assert again.process(rec(endpoint_slice([True, True])), at(210)) == []


def test_an_outage_that_began_while_nobody_watched_is_news_after_a_checkpoint():
    again = resumed(builtin_engine().snapshot(), until=30)
    assert again.process(rec(endpoint_slice([True, False], change=50), "ADDED", listed=True), at(60)) == []
    assert [a.status for a in again.tick(at(91))] == ["firing"]


def test_reconcile_resolves_restored_incidents_whose_service_is_gone():
    eng = builtin_engine()
    eng.process(rec(endpoint_slice([True, True]), "ADDED"), at(0))
    eng.process(rec(endpoint_slice([True, False], change=10)), at(10))
    eng.tick(at(41))
    again = resumed(eng.snapshot(), until=50)
    # the first LIST has no slice of the Service any more
    resolved = again.reconcile(at(60))
    assert [(a.rule, a.status) for a in resolved] == [("endpoints-unhealthy", "resolved")]
    assert again.open_incidents() == []


def test_reconcile_keeps_what_the_first_list_refreshed():
    eng = builtin_engine()
    eng.process(rec(endpoint_slice([True, True]), "ADDED"), at(0))
    eng.process(rec(endpoint_slice([True, False], change=10)), at(10))
    eng.tick(at(41))
    again = resumed(eng.snapshot(), until=50)
    again.process(rec(endpoint_slice([True, False], change=10), "ADDED", listed=True), at(60))
    assert again.reconcile(at(61)) == [] and len(again.open_incidents()) == 1


def test_a_snapshot_entry_that_cannot_be_read_is_skipped():
    eng = resumed({"incidents": [{"rule": "endpoints-unhealthy", "state": "exploded"}, "junk"]}, until=0)
    assert eng.open_incidents() == []
