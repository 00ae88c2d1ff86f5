"""The command line, run in-process through `main()` (and once as the installed script)."""
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from watcher.cli import main

REPO = Path(__file__).resolve().parents[2]
RECORDINGS = sorted(str(p) for p in (REPO / "examples" / "recordings").glob("*.jsonl"))


def test_demo_replay_prints_the_oom_and_the_unhealthy_resolved_pair_only(capsys):
    assert main(["replay", "--format", "json", *RECORDINGS]) == 0
    lines = [json.loads(l) for l in capsys.readouterr().out.splitlines()]
    assert [(l["rule"], l["status"], l["namespace"], l["name"]) for l in lines] == [
        ("oom-killed", "firing", "shop", "payment-api-7c9f8d6b5-x2x1z"),
        ("endpoints-unhealthy", "firing", "portal", "web"),
        ("endpoints-unhealthy", "resolved", "portal", "web"),
    ]
    assert {"severity", "kind", "key", "summary"} <= set(lines[0])


def test_replay_text_format(capsys):
    assert main(["replay", *RECORDINGS]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 3 and "FIRING" in out[0] and "OOMKilled 137" in out[0] and "RESOLVED" in out[2]


def test_replay_reports_bad_lines_with_file_and_line_and_exits_1(tmp_path, capsys):
    good = Path(RECORDINGS[0]).read_text().splitlines()
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join([good[0], "{not json", json.dumps({"type": "ADDED", "object": {"kind": "Pod", "metadata": {}}}), *good[1:]]) + "\n")
    assert main(["replay", str(bad)]) == 1
    captured = capsys.readouterr()
    assert f"{bad}:2: invalid JSON" in captured.err
    assert f"{bad}:3: skipped: no_name" in captured.err
    assert "skipped 2" in captured.err
    assert "OOMKilled" in captured.out  # the rest of the recording still ran


def test_replay_accepts_a_plain_list_and_pretty_printed_watch_output(tmp_path, capsys):
    objs = [json.loads(l)["object"] for l in Path(RECORDINGS[1]).read_text().splitlines()]
    pretty = tmp_path / "pretty.json"
    pretty.write_text("\n".join(json.dumps({"type": "MODIFIED", "object": o}, indent=4) for o in objs))
    assert main(["replay", "--format", "json", str(pretty)]) == 0
    assert [json.loads(l)["status"] for l in capsys.readouterr().out.splitlines()] == ["firing", "resolved"]
    as_list = tmp_path / "list.json"
    as_list.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objs[:3]}))
    assert main(["replay", str(as_list)]) == 0


def test_lint_ok_and_errors(tmp_path, capsys):
    ok = tmp_path / "ok.yaml"
    ok.write_text("name: a\nsource: event\ndetector: any\n")
    assert main(["rules", "lint", str(ok)]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: b\nsource: event\ndetector: {type: freq}\nmatch:\n  reasn: X\n")
    assert main(["rules", "lint", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:3: rule `b`: unknown detector `freq`" in err
    assert f"{bad}:5: rule `b`: unknown field `reasn`" in err
    assert main(["rules", "lint", str(tmp_path / "missing.yaml")]) == 1


def test_rules_test_with_expectations(tmp_path, capsys):
    rule = tmp_path / "r.yaml"
    rule.write_text("name: probe-failures\nsource: event\nmatch: {reason: Unhealthy}\ndetector: any\n")
    expect = tmp_path / "e.yaml"
    expect.write_text("alerts:\n  - {rule: probe-failures, status: firing, name: web-6d8f7c9b4-k7m2p.180b2c3d4e5f6a7b}\n"
                      "  - {rule: probe-failures, status: firing}\n")
    assert main(["rules", "test", str(rule), RECORDINGS[1], "--expect", str(expect)]) == 0
    expect.write_text("alerts:\n  - {rule: probe-failures, status: resolved}\n")
    assert main(["rules", "test", str(rule), RECORDINGS[1], "--expect", str(expect)]) == 1
    err = capsys.readouterr().err
    assert "alert #1: status is 'firing', expected 'resolved'" in err and "unexpected alert #2" in err


def test_config_check(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("cluster: x\nmetrics: {port: nine}\n")
    assert main(["config", "check", "-c", str(cfg)]) == 2
    assert f"{cfg}:2: metrics.port: expected a whole number" in capsys.readouterr().err
    cfg.write_text("cluster: x\n")
    assert main(["config", "check", "-c", str(cfg)]) == 0


@pytest.mark.skipif(shutil.which("kube-event-alerter") is None, reason="package not installed (pip install .)")
def test_installed_console_script_runs_the_demo():
    out = subprocess.run(["kube-event-alerter", "replay", *RECORDINGS], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.count("\n") == 3


def test_lint_reports_a_hostile_file_without_a_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: b\nsource: event\ndetector: any\nmatch: &m\n  reason: [*m]\n")
    assert main(["rules", "lint", str(bad)]) == 1
    assert f"{bad}:5: recursive YAML alias" in capsys.readouterr().err
    bad.write_text("name: b\nmatch: " + "{a: " * 2000 + "1" + "}" * 2000 + "\n")
    assert main(["rules", "lint", str(bad)]) == 1
    assert f"{bad}:2: YAML nested deeper than" in capsys.readouterr().err
