"""The card follows the detector, not the rule's name."""
from notifiers.card import alert_kind
from tests.factories import at, endpoint_slice, oom, pod, rec
from tests.rules.helpers import engine_for


def test_a_copied_oom_rule_under_another_name_gets_the_oom_card():
    eng = engine_for("name: payments-oom\nsource: pod\ndetector: {type: oom_killed, exit_codes: [137]}\n")
    (alert,) = eng.process(rec(pod(restarts=1, last=oom(100, reason="Error"))), at(101))
    assert alert.detector == "oom_killed" and alert_kind(alert) == "oom"


def test_a_renamed_endpoints_rule_gets_the_unhealthy_card():
    eng = engine_for("name: web-degraded\nsource: endpoints\ndetector: endpoints_unhealthy\n")
    (alert,) = eng.process(rec(endpoint_slice([True, False])), at(1))
    assert alert_kind(alert) == "unhealthy"


def test_an_any_rule_about_oomkilled_pods_still_gets_the_oom_card_from_its_fields():
    eng = engine_for("name: pod-changes\nsource: pod\ndetector: any\nmatch: {last_reason: OOMKilled}\n")
    (alert,) = eng.process(rec(pod(restarts=1, last=oom(100))), at(101))
    assert alert.detector == "any" and alert_kind(alert) == "oom"


def test_a_rule_merely_named_oom_killed_with_another_detector_is_judged_by_what_it_detected():
    eng = engine_for("name: oom-killed\nsource: pod\ndetector: any\nmatch: {phase: Running}\n")
    (alert,) = eng.process(rec(pod()), at(1))
    assert alert_kind(alert) == "other"
