"""`replay` / `rules test` with -c and --silences: each alert's robots, and whether a silence or
an inhibition holds it, judged as the daemon's stage would (watcher/decisions.py)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from watcher.cli import main

REPO = Path(__file__).resolve().parents[2]
DROP = REPO / "examples" / "recordings" / "web-endpoint-drop.jsonl"
CONFIG = """\
notifiers:
  ops: {type: webhook, url: "https://x.invalid/ops"}
  portal: {type: webhook, url: "https://x.invalid/portal"}
routing:
  default: [ops]
  routes:
    - matchers: [namespace=portal]
      notify: [portal]
"""


@pytest.fixture
def oom_drop(tmp_path: Path) -> Path:
    """The demo drop, its pod killed for memory: one OOM that causes one endpoint drop."""
    path = tmp_path / "oom-drop.jsonl"
    path.write_text(DROP.read_text().replace('"reason":"Error"', '"reason":"OOMKilled"'))
    return path


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG)
    return path


def _decisions(capsys, *argv: str) -> list[dict]:
    assert main(["replay", "--format", "json", *argv]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_an_oom_that_causes_a_drop_is_one_card_then_its_recovery(capsys, oom_drop, config) -> None:
    got = _decisions(capsys, "-c", str(config), str(oom_drop))
    assert [(d["rule"], d["status"], d["decision"], d["robots"], d["inhibited_by"]) for d in got] == [
        ("oom-killed", "firing", "inhibited", [], "endpoints-unhealthy"),
        ("endpoints-unhealthy", "firing", "sent", ["portal"], ""),
        ("endpoints-unhealthy", "resolved", "sent", ["portal"], ""),
    ]


def test_without_the_builtins_the_oom_card_goes_out_too(capsys, oom_drop, config, tmp_path) -> None:
    config.write_text(CONFIG + "inhibition: {builtin: false}\n")
    got = _decisions(capsys, "-c", str(config), str(oom_drop))
    assert [(d["rule"], d["decision"]) for d in got] == [
        ("oom-killed", "sent"), ("endpoints-unhealthy", "sent"), ("endpoints-unhealthy", "sent")]


def test_without_c_or_silences_replay_prints_alerts_as_before(capsys, oom_drop) -> None:
    assert main(["replay", "--format", "json", str(oom_drop)]) == 0
    got = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(got) == 3 and "decision" not in got[0]


def test_text_output_names_robots_and_the_inhibitor(capsys, oom_drop, config) -> None:
    assert main(["replay", "-c", str(config), str(oom_drop)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].strip() == "✗ inhibited by endpoints-unhealthy portal/web"
    assert out[3].strip() == "→ portal"  # sent before the OOM was judged: nothing counted yet


SILENCE = {"id": "3f2c6a1e-0000-4000-8000-000000000001", "matchers": ["namespace=portal", "rule=endpoints-unhealthy"],
           "starts_at": "2026-11-20T02:00:00+00:00", "ends_at": "2026-11-20T04:00:00+00:00",
           "created_by": "zhangsan", "comment": "扩容中", "created_at": "2026-11-20T02:00:00+00:00"}


def test_a_silence_from_a_file_holds_the_firing_and_its_resolved(capsys, tmp_path) -> None:
    silences = tmp_path / "silences.json"
    silences.write_text(json.dumps([SILENCE]))
    got = _decisions(capsys, "--silences", str(silences), str(DROP))
    assert [(d["rule"], d["status"], d["decision"], d["silenced_by"]) for d in got] == [
        ("endpoints-unhealthy", "firing", "silenced", SILENCE["id"]),
        ("endpoints-unhealthy", "resolved", "silenced", SILENCE["id"]),
    ]


def test_a_bad_silences_file_names_file_line_and_field(capsys, tmp_path) -> None:
    silences = tmp_path / "silences.yaml"
    silences.write_text("- id: a\n  matchers: [namespace=portal]\n- id: b\n  matchers: [namespace=portal]\n"
                        "  starts_at: yesterday\n")
    assert main(["replay", "--silences", str(silences), str(DROP)]) == 2
    err = capsys.readouterr().err
    assert f"{silences}:1: silence #1: silence field `created_by`" in err or f"{silences}:1: silence #1:" in err


def test_rules_test_expectations_state_the_decisions(capsys, oom_drop, config, tmp_path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text((REPO / "rules" / "builtin" / "oom-killed.yaml").read_text() + "\n"
                     + (REPO / "rules" / "builtin" / "endpoints-unhealthy.yaml").read_text().replace("rules:\n", ""))
    expect = tmp_path / "expect.yaml"
    expect.write_text("alerts:\n"
                      "  - {rule: oom-killed, decision: inhibited, inhibited_by: endpoints-unhealthy}\n"
                      "  - {rule: endpoints-unhealthy, status: firing, decision: sent, robots: [portal]}\n"
                      "  - {rule: endpoints-unhealthy, status: resolved, decision: sent, robots: [portal]}\n")
    argv = ["rules", "test", str(rules), str(oom_drop), "--expect", str(expect)]
    assert main([*argv, "-c", str(config)]) == 0, capsys.readouterr().err
    expect.write_text(expect.read_text().replace("robots: [portal]}\n  - {rule: endpoints-unhealthy, status: resolved",
                                                 "robots: [ops]}\n  - {rule: endpoints-unhealthy, status: resolved"))
    assert main([*argv, "-c", str(config)]) == 1
    assert "alert #2: robots is ['portal'], expected ['ops']" in capsys.readouterr().err
    assert main(argv) == 1
    assert "`decision` is decided only with -c or --silences" in capsys.readouterr().err
