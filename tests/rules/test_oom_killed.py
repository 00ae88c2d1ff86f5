from rules.engine import Engine
from tests.factories import at, endpoint_slice, oom, pod, rec
from tests.rules.helpers import builtin_engine, engine_for


def test_new_oom_fires_once_with_card_fields():
    eng = builtin_engine(start=0)
    assert eng.process(rec(pod(), "ADDED"), at(1)) == []
    alerts = eng.process(rec(pod(restarts=1, last=oom(100), ready=False)), at(101))
    assert [(a.rule, a.status) for a in alerts] == [("oom-killed", "firing")]
    a = alerts[0]
    assert (a.workload_kind, a.workload_name, a.namespace) == ("Deployment", "web", "shop")
    assert a.fields["exit_code"] == 137 and a.fields["reason"] == "OOMKilled"
    assert a.fields["memory_limit"] == "512Mi" and a.fields["node"] == "node-1" and a.fields["restarts"] == 1
    assert a.started_at == at(100)


def test_status_patches_without_new_termination_do_not_fire_again():
    eng = builtin_engine()
    assert len(eng.process(rec(pod(restarts=1, last=oom(100), ready=False)), at(101))) == 1
    assert eng.process(rec(pod(restarts=1, last=oom(100), ready=True)), at(130)) == []
    assert eng.process(rec(pod(restarts=1, last=oom(100), ready=True, labels={"app": "web", "x": "y"})), at(200)) == []


def test_repeats_fold_into_open_incident_until_repeat_interval_passes():
    eng = builtin_engine()  # built-in repeat_interval is 30m
    assert len(eng.process(rec(pod(restarts=1, last=oom(100))), at(100))) == 1
    assert eng.process(rec(pod(restarts=2, last=oom(400))), at(400)) == []
    eng.tick(at(1000))
    later = eng.process(rec(pod(restarts=3, last=oom(100 + 1801))), at(1901))
    assert [a.status for a in later] == ["firing"]
    assert later[0].id != "" and later[0].incident.endswith("02:31:41.000000Z")


def test_listed_pod_with_old_oom_primes_without_firing():
    eng = builtin_engine(start=500)
    assert eng.process(rec(pod(restarts=4, last=oom(100)), "ADDED", listed=True), at(500)) == []
    # the same termination seen again in a later watch event is not new
    assert eng.process(rec(pod(restarts=4, last=oom(100), ready=False)), at(600)) == []


def test_oom_finished_before_start_never_fires_even_unlisted():
    eng = builtin_engine(start=500)
    assert eng.process(rec(pod(restarts=1, last=oom(100)), "ADDED"), at(501)) == []


def test_exit_137_without_oom_reason_is_not_an_oom_by_default():
    eng = builtin_engine()
    assert eng.process(rec(pod(restarts=1, last=oom(100, reason="Error"))), at(101)) == []


def test_exit_codes_option_counts_137_when_asked():
    eng = engine_for("""
name: oom-or-137
source: pod
detector: {type: oom_killed, exit_codes: [137]}
""")
    alerts = eng.process(rec(pod(restarts=1, last=oom(100, reason="Error"))), at(101))
    assert [a.fields["reason"] for a in alerts] == ["Error"]


def test_restart_policy_never_termination_in_current_state_fires():
    eng = builtin_engine()
    alerts = eng.process(rec(pod(terminated=oom(50), ready=False)), at(51))
    assert len(alerts) == 1 and alerts[0].fields["finished_at"] == at(50)


def test_deleted_pod_forgets_its_terminations():
    eng = builtin_engine()
    eng.process(rec(pod(restarts=1, last=oom(100))), at(100))
    eng.process(rec(pod(restarts=1, last=oom(100)), "DELETED"), at(110))
    assert eng.open_incidents()[0].rule == "oom-killed"  # the incident itself stays for its window


def test_disabled_builtin_is_not_run():
    from rules.loader import load_rule_set, load_text

    override = load_text("name: oom-killed\nsource: pod\ndetector: oom_killed\nenabled: false\n", "o.yaml")
    rules = [r for r in load_rule_set([]).rules if r.name != "oom-killed"] + override.rules
    eng = Engine(rules, stale_before=at(0))
    assert eng.process(rec(pod(restarts=1, last=oom(100))), at(100)) == []


def test_reload_with_same_detector_remembers_seen_ooms():
    from rules.loader import load_rule_set, load_text

    eng = builtin_engine()
    assert len(eng.process(rec(pod(restarts=1, last=oom(100))), at(100))) == 1
    tweaked = load_text("name: oom-killed\nsource: pod\ndetector: {type: oom_killed, reasons: [OOMKilled]}\nseverity: warning\n", "o.yaml").rules
    how = eng.replace_rules([r for r in load_rule_set([]).rules if r.name != "oom-killed"] + tweaked)
    assert how["oom-killed"] == "updated" and how["endpoints-unhealthy"] == "unchanged"
    eng.tick(at(5000))  # past any fold window
    assert eng.process(rec(pod(restarts=1, last=oom(100), ready=True)), at(5000)) == []


def test_restore_skips_instant_incidents_whose_window_is_over():
    eng = builtin_engine()
    fired = eng.process(rec(pod(restarts=1, last=oom(100))), at(100))
    fresh = builtin_engine(start=200)
    assert fresh.restore(fired, now=at(200)) == 1  # inside the 30m fold window
    assert builtin_engine(start=4000).restore(fired, now=at(4000)) == 0
    assert fresh.process(rec(pod(restarts=2, last=oom(300))), at(300)) == []  # folded into the restored one


def test_a_pod_backs_a_service_of_its_own_namespace_only_and_not_once_the_slice_is_gone():
    from rules.state import Services

    services = Services()
    services.observe(rec(endpoint_slice([True], service="web", ns="shop", pods=["web-1"])))
    services.observe(rec(endpoint_slice([True], service="api", ns="team-a", pods=["api-1"])))
    assert services.backed_by("shop", "web-1") and services.backed_by("team-a", "api-1")
    assert not services.backed_by("team-a", "web-1") and not services.backed_by("shop", "api-1")
    services.observe(rec(endpoint_slice([True], service="web", ns="shop", pods=["web-1"]), "DELETED"))
    assert not services.backed_by("shop", "web-1") and services.backed_by("team-a", "api-1")
    services.observe(rec(endpoint_slice([True], service="web", ns="shop", pods=["web-1"]), "ADDED"))
    assert services.backed_by("shop", "web-1")
