"""The self-monitoring rules (charts/kube-event-alerter/files/prometheus-rules.yaml, shipped as
deploy/prometheus/kube-event-alerter-rules.yaml) with the real promtool (tests/deploy/gotools.py):
`promtool check rules`, the unit tests deploy/prometheus/tests.yaml (`promtool test rules`),
every alert unit-tested, and every expression naming only series and labels the daemon
exports (a live Metrics() registry)."""
from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from tests.deploy.gotools import tool
from tests.deploy.manifests import REPO
from tests.deploy.promql import exported_series, problems, references

RULES = REPO / "charts" / "kube-event-alerter" / "files" / "prometheus-rules.yaml"
SHIPPED = REPO / "deploy" / "prometheus" / "kube-event-alerter-rules.yaml"
TESTS = REPO / "deploy" / "prometheus" / "tests.yaml"


@pytest.fixture(scope="module")
def promtool():
    return tool("promtool")


def _rules() -> list[dict]:
    return [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]


def _run(promtool, *args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([str(promtool), *args], capture_output=True, text=True, timeout=300, cwd=cwd)


@pytest.mark.parametrize("path", [RULES, SHIPPED], ids=["chart", "deploy"])
def test_promtool_check_rules(promtool, path):
    proc = _run(promtool, "check", "rules", "--lint=all", "--lint-fatal", str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {len(_rules())} rules found" in proc.stdout


def test_promtool_unit_tests_pass(promtool):
    proc = _run(promtool, "test", "rules", str(TESTS))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout + proc.stderr


def test_a_wrong_expectation_fails_the_unit_tests(promtool, tmp_path):
    """Control: promtool does compare, so the pass above means something."""
    shutil.copy2(SHIPPED, tmp_path / SHIPPED.name)
    text = TESTS.read_text().replace("exp_labels: {severity: critical, job: kea}",
                                     "exp_labels: {severity: warning, job: kea}")
    assert text != TESTS.read_text()
    (tmp_path / "tests.yaml").write_text(text)
    proc = _run(promtool, "test", "rules", "tests.yaml", cwd=tmp_path)
    assert proc.returncode != 0 and "KubeEventAlerterNoLeader" in proc.stdout + proc.stderr


def test_every_alert_has_unit_tests_that_fire_and_stay_quiet():
    tests = yaml.safe_load(TESTS.read_text())
    assert tests["rule_files"] == [SHIPPED.name]
    cases = [c for t in tests["tests"] for c in t.get("alert_rule_test", [])]
    for rule in _rules():
        mine = [c for c in cases if c["alertname"] == rule["alert"]]
        assert any(c["exp_alerts"] for c in mine), f"{rule['alert']}: no case where it fires"
        assert any(not c["exp_alerts"] for c in mine), f"{rule['alert']}: no case where it stays quiet"


def test_every_alert_has_severity_summary_and_description():
    for rule in _rules():
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]


def test_expressions_use_only_exported_series():
    series = exported_series()
    found = []
    used = set()
    for rule in _rules():
        found += problems(rule["expr"], series, where=rule["alert"])
        used |= references(rule["expr"]).metrics
    assert not found, "\n".join(found)
    # The series the brief's alerts are about are all used.
    assert {"kea_watch_seconds_since_last_event", "kea_outbox_pending", "kea_notifications_total",
            "kea_es_spool_bytes", "kea_es_spool_dropped_total", "kea_leader", "kea_config_reloads_total"} <= used


def test_the_expression_check_catches_a_typo():
    series = exported_series()
    assert problems('kea_outbox_pendng > 0', series, where="x")
    assert problems('kea_notifications_total{reslt="failed"}', series, where="x")
    assert problems('sum by (robot) (kea_notifications_total)', series, where="x")
    assert problems('up == 0', series, where="x"), "a series the daemon does not export"
    assert not problems('sum by (job, notifier) (rate(kea_notifications_total{result="failed"}[5m])) > 0',
                        series, where="x")
