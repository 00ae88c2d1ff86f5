"""The `common` rule pack: each rule over its recording (`rules test --expect`), off by default,
switched on by the config (`rules.packs`) or per rule in the user's files, with its card title."""
from __future__ import annotations

import configparser
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from notifiers import card
from rules.loader import load_rule_set, load_text
from rules.shipped import pack_names, pack_paths
from watcher.cli import main
from watcher.config import ConfigError, parse_config
from watcher.replay import replay

REPO = Path(__file__).resolve().parents[2]
RECORDINGS = REPO / "examples" / "recordings" / "pack"
PACK = pack_paths("common")
PACK_RULES = [p.stem for p in PACK]
ISSUE_FAILURES = {"crashloop-backoff", "image-pull-failed", "failed-scheduling", "pod-evicted", "node-not-ready",
                  "volume-mount-failed", "probe-failed", "job-failed", "hpa-metrics-unavailable"}


def test_the_common_pack_covers_the_failures_everyone_has():
    assert pack_names() == ["common"]
    assert set(PACK_RULES) == ISSUE_FAILURES


@pytest.mark.parametrize("name", PACK_RULES)
def test_each_pack_rule_passes_its_recording(name, capsys):
    """The recording holds the failure and a near miss (a one-off crash, a pod scheduled after
    two attempts, a start-up readiness failure...): the expect file lists every alert."""
    recording, expect = RECORDINGS / f"{name}.jsonl", RECORDINGS / f"{name}.expect.yaml"
    assert main(["rules", "test", str(REPO / "rules" / "packs" / "common" / f"{name}.yaml"), str(recording),
                 "--expect", str(expect)]) == 0, capsys.readouterr().err
    assert "expectations met" in capsys.readouterr().err


@pytest.mark.parametrize("path", PACK, ids=PACK_RULES)
def test_each_pack_rule_has_a_description_a_chinese_title_and_its_file_name(path):
    (rule,) = load_text(path.read_text(encoding="utf-8"), str(path)).rules
    assert rule.name == path.stem
    assert rule.description and rule.title
    assert any("\u4e00" <= ch <= "\u9fff" for ch in rule.title), rule.title


def test_a_pack_rule_that_expects_the_wrong_alerts_fails_rules_test(tmp_path, capsys):
    """The recordings check something: a wrong expectation is a mismatch (exit 1)."""
    expect = tmp_path / "e.yaml"
    expect.write_text("alerts:\n  - {rule: failed-scheduling, status: firing, key: shop/web-6d8f7b9c4-p4n7t}\n")
    assert main(["rules", "test", str(REPO / "rules" / "packs" / "common" / "failed-scheduling.yaml"),
                 str(RECORDINGS / "failed-scheduling.jsonl"), "--expect", str(expect)]) == 1
    assert "key is 'batch/report-batch-0', expected 'shop/web-6d8f7b9c4-p4n7t'" in capsys.readouterr().err


def names(result) -> set[str]:
    assert result.ok, [str(p) for p in result.problems]
    return {r.name for r in result.rules}


def test_pack_rules_are_off_by_default():
    assert names(load_rule_set([])) == {"oom-killed", "endpoints-unhealthy"}


def test_rules_packs_common_switches_the_whole_pack_on():
    assert names(load_rule_set([], packs=["common"])) == {"oom-killed", "endpoints-unhealthy"} | ISSUE_FAILURES
    assert names(load_rule_set([], builtins=False, packs=["common"])) == ISSUE_FAILURES


def test_rules_packs_can_name_single_rules():
    assert names(load_rule_set([], builtins=False, packs=["common/job-failed", "common/pod-evicted"])) == {
        "job-failed", "pod-evicted"}


def test_a_user_file_switches_one_pack_rule_on_and_another_off(tmp_path):
    (tmp_path / "mine.yaml").write_text("rules:\n  - {name: failed-scheduling, enabled: true}\n"
                                        "  - name: oom-killed\n    enabled: false\n")
    assert names(load_rule_set([tmp_path])) == {"endpoints-unhealthy", "failed-scheduling"}
    (tmp_path / "mine.yaml").write_text("- {name: probe-failed, enabled: false}\n")
    assert names(load_rule_set([tmp_path], builtins=False, packs=["common"])) == ISSUE_FAILURES - {"probe-failed"}


def test_a_user_rule_of_a_pack_rules_name_replaces_it(tmp_path):
    (tmp_path / "mine.yaml").write_text("name: probe-failed\nsource: event\nmatch: {reason: Unhealthy}\n"
                                        "detector: {type: frequency, threshold: 3, window: 5m}\n")
    result = load_rule_set([tmp_path], builtins=False, packs=["common"])
    (probe,) = [r for r in result.rules if r.name == "probe-failed"]
    assert probe.detector.threshold == 3 and probe.origin.startswith(str(tmp_path))
    assert len(result.rules) == len(ISSUE_FAILURES)


def test_switching_a_rule_that_is_not_shipped_names_the_file_and_line(tmp_path):
    (tmp_path / "mine.yaml").write_text("rules:\n  - {name: probe-faild, enabled: true}\n")
    result = load_rule_set([tmp_path])
    assert [str(p) for p in result.problems] == [
        f"{tmp_path / 'mine.yaml'}:2: rule `probe-faild`: no built-in or pack rule of that name to switch on "
        "(did you mean `probe-failed`?); a new rule needs `source` and `detector`"]


def test_rules_lint_checks_the_switches_too(tmp_path, capsys):
    (tmp_path / "mine.yaml").write_text("- {name: job-failed, enabled: true}\n- {name: jobfailed, enabled: true}\n")
    assert main(["rules", "lint", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'mine.yaml'}:2: rule `jobfailed`: no built-in or pack rule of that name" in err
    assert "job-failed`:" not in err


def test_the_config_rejects_an_unknown_pack_or_pack_rule_with_its_line():
    with pytest.raises(ConfigError) as err:
        parse_config("rules:\n  packs:\n    - comon\n    - common/job-faild\n", "c.yaml", {})
    assert [str(p) for p in err.value.problems] == [
        "c.yaml:3: rules.packs.0: no rule pack `comon` (did you mean `common`?); shipped: common",
        "c.yaml:4: rules.packs.1: pack `common` has no rule `job-faild` (did you mean `job-failed`?)"]
    assert parse_config("rules: {packs: [common]}\n", "c.yaml", {}).rules.packs == ["common"]


def test_config_check_counts_the_switched_on_pack(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("rules: {packs: [common]}\n")
    assert main(["config", "check", "-c", str(cfg)]) == 0
    assert f"({2 + len(ISSUE_FAILURES)} rules, 0 notifiers)" in capsys.readouterr().err


@pytest.mark.parametrize(("name", "language", "heading"), [
    ("image-pull-failed", "zh", "【告警】镜像拉取失败"),
    ("failed-scheduling", "zh", "【告警】Pod 无法调度"),
    ("probe-failed", "zh", "【告警】健康检查持续失败"),
])
def test_the_card_title_is_the_rules_title(name, language, heading):
    alerts = []
    replay([str(RECORDINGS / f"{name}.jsonl")], load_rule_set([], builtins=False, packs=[f"common/{name}"]).rules,
           emit=alerts.append)
    assert alerts and alerts[0].title
    assert card.title(alerts[0], language) == heading
    rows = {r["label"]: r["value"] for r in card.rows(alerts[0], language, ZoneInfo("Asia/Shanghai"))}
    assert rows["所属项目"].startswith(alerts[0].namespace)


def test_a_resolved_pack_alert_keeps_its_title():
    alerts = []
    replay([str(RECORDINGS / "probe-failed.jsonl")], load_rule_set([], builtins=False, packs=["common"]).rules,
           emit=alerts.append)
    assert [a.status for a in alerts] == ["firing", "resolved"]
    assert card.title(alerts[1], "zh") == "【恢复】健康检查持续失败"


def test_the_pack_ships_as_package_data():
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    assert "packs/*/*.yaml" in cfg["options.package_data"]["rules"]
