from tests.factories import at, event, rec
from tests.rules.helpers import engine_for

ANY = """
name: warnings
source: event
match: {type: Warning}
detector: any
"""
FREQ = """
name: backoff-storm
source: event
match: {reason: BackOff}
detector: {type: frequency, threshold: 5, window: 10m}
"""


def test_any_fires_per_matching_event_and_skips_others():
    eng = engine_for(ANY)
    assert len(eng.process(rec(event("a.1", last=1), "ADDED"), at(1))) == 1
    assert eng.process(rec(event("a.2", last=2, type_="Normal", reason="Pulled"), "ADDED"), at(2)) == []


def test_any_count_bump_fires_again_without_repeat_interval_but_not_for_unchanged_count():
    eng = engine_for(ANY)
    eng.process(rec(event("a.1", last=1), "ADDED"), at(1))
    assert len(eng.process(rec(event("a.1", count=2, last=5)), at(5))) == 1
    assert eng.process(rec(event("a.1", count=2, last=5)), at(6)) == []  # metadata-only update


def test_any_repeat_interval_folds_and_counts():
    eng = engine_for(ANY + "repeat_interval: 10m\n")
    first = eng.process(rec(event("a.1", last=1), "ADDED"), at(1))
    assert eng.process(rec(event("a.1", count=4, last=60)), at(60)) == []
    assert eng.open_incidents()[0].count == 4
    # the fold window ends: the folded repeats reach a message (they never did before)
    (told,) = eng.tick(at(700))
    assert (told.status, told.sequence, told.count) == ("firing", 2, 4) and told.id != first[0].id
    (again,) = eng.process(rec(event("a.1", count=5, last=700)), at(700))
    assert (again.sequence, again.count) == (1, 1)  # a new incident after the window


def test_any_resolve_after_quiet_period():
    eng = engine_for(ANY + "resolve_after: 5m\n")
    eng.process(rec(event("a.1", last=1), "ADDED"), at(1))
    assert eng.tick(at(200)) == []
    resolved = eng.tick(at(302))
    assert [a.status for a in resolved] == ["resolved"]


def test_deleted_event_is_not_an_occurrence():
    eng = engine_for(ANY)
    assert eng.process(rec(event("a.1", last=1), "DELETED"), at(1)) == []


def test_events_before_the_boundary_never_fire_listed_or_not():
    eng = engine_for(ANY, start=100)
    assert eng.process(rec(event("a.1", last=50), "ADDED", listed=True), at(150)) == []
    assert eng.process(rec(event("a.2", last=50), "ADDED"), at(150)) == []


def test_an_event_after_the_boundary_fires_even_when_it_arrives_in_the_first_list():
    # It happened after the daemon started (or after its checkpoint) but reached it in the
    # initial LIST: news, not history (this was dropped for good before).
    eng = engine_for(ANY, start=100)
    fired = eng.process(rec(event("a.1", last=150), "ADDED", listed=True), at(150))
    assert [(a.rule, a.status) for a in fired] == [("warnings", "firing")]


def test_frequency_counts_event_count_deltas_and_resolves_when_window_passes():
    eng = engine_for(FREQ)
    assert eng.process(rec(event("b.1", count=1, last=0), "ADDED"), at(0)) == []
    assert eng.process(rec(event("b.1", count=3, last=60)), at(60)) == []
    fired = eng.process(rec(event("b.1", count=5, last=120)), at(120))
    assert [(a.status, a.count, a.fields["threshold"]) for a in fired] == [("firing", 5, 5)]
    assert eng.process(rec(event("b.1", count=6, last=130)), at(130)) == []
    assert eng.tick(at(500)) == []
    resolved = eng.tick(at(661))
    assert [a.status for a in resolved] == ["resolved"]


def test_frequency_keys_are_separate():
    eng = engine_for(FREQ)
    for i in range(4):
        assert eng.process(rec(event(f"x.{i}", involved="pod-a", last=i), "ADDED"), at(i)) == []
        assert eng.process(rec(event(f"y.{i}", involved="pod-b", last=i), "ADDED"), at(i)) == []
    assert len(eng.process(rec(event("x.9", involved="pod-a", last=9), "ADDED"), at(9))) == 1


def test_frequency_with_for_needs_condition_to_hold():
    short = engine_for(FREQ.replace("threshold: 5", "threshold: 1").replace("10m", "1m") + "for: 2m\n")
    assert short.process(rec(event("c.1", last=0), "ADDED"), at(0)) == []
    assert short.tick(at(121)) == []  # the window emptied before `for` was over
    eng2 = engine_for(FREQ.replace("threshold: 5", "threshold: 1").replace("10m", "1h") + "for: 2m\n")
    eng2.process(rec(event("c.1", last=0), "ADDED"), at(0))
    assert [a.status for a in eng2.tick(at(121))] == ["firing"]


def test_pod_any_rule_alerts_per_container():
    eng = engine_for("""
name: crashloop
source: pod
match: {waiting_reason: CrashLoopBackOff}
detector: any
repeat_interval: 1h
""")
    from tests.factories import pod

    p = pod()
    p["status"]["containerStatuses"][0]["state"] = {"waiting": {"reason": "CrashLoopBackOff"}}
    alerts = eng.process(rec(p), at(5))
    assert [a.key for a in alerts] == ["shop/web-6d8f7c9b4-k7m2p/app"]


def test_frequency_occurrence_already_outside_its_window_counts_for_nothing_and_does_not_crash():
    # A late Event (delivered after a watch gap, or a relist): its time is inside the run but
    # further back than the window. It used to raise IndexError from the emptied window.
    eng = engine_for(FREQ.replace("threshold: 5", "threshold: 1"))
    assert eng.process(rec(event("b.1", last=60), "ADDED"), at(1200)) == []
    (fired,) = eng.process(rec(event("b.2", last=1190), "ADDED"), at(1200))
    assert (fired.status, fired.count) == ("firing", 1)
    # Once the window is over the incident resolves, and the late one left nothing behind.
    assert [a.status for a in eng.tick(at(1800))] == ["resolved"]
    assert eng.tick(at(3000)) == []


def test_a_restored_frequency_incident_resolves_at_the_first_occurrence_below_the_threshold():
    # After a restart the window's counts are gone but the firing incident is not: the first
    # occurrence counts 1 < 5, and the incident it finds open resolves out loud (the detector
    # leaves out below-threshold keys only when no incident is open for them).
    eng = engine_for(FREQ)
    for i in range(5):
        fired = eng.process(rec(event(f"b.{i}", last=i), "ADDED"), at(i))
    assert [a.status for a in fired] == ["firing"]
    again = engine_for(FREQ, start=100)
    assert again.restore(eng.open_incidents(), now=at(100)) == 1
    resolved = again.process(rec(event("b.9", last=200), "ADDED"), at(200))
    assert [(a.rule, a.status) for a in resolved] == [("backoff-storm", "resolved")]


def test_frequency_counts_only_hits_inside_the_window_and_forgets_idle_keys():
    # Whether a tick or the next hit prunes what left the window, the count is the same; a
    # tick after all of a key's hits are out forgets the key (memory stays bounded).
    eng = engine_for(FREQ.replace("threshold: 5", "threshold: 3").replace("10m", "1m"))
    assert eng.process(rec(event("b.1", last=0), "ADDED"), at(0)) == []
    assert eng.process(rec(event("b.2", last=30), "ADDED"), at(30)) == []
    assert eng.tick(at(61)) == []  # the hit at 0 is out
    assert eng.process(rec(event("b.3", last=70), "ADDED"), at(70)) == []  # 2 in the window: 30, 70
    (fired,) = eng.process(rec(event("b.4", last=80), "ADDED"), at(80))
    assert (fired.status, fired.count) == ("firing", 3)
    assert [a.status for a in eng.tick(at(91))] == ["resolved"]  # 30 is out: 2 < 3
    for i in range(20):  # other keys, each once
        eng.process(rec(event(f"x.{i}", involved=f"pod-{i}", last=100 + i), "ADDED"), at(100 + i))
    detector = eng.rules[0].detector
    assert len(detector._windows) == 21
    assert eng.tick(at(200)) == []
    assert len(detector._windows) == 0
