"""`python -m notifiers.preview` and `sample_alert`, which the CLI and README rely on."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from notifiers.preview import main
from notifiers.samples import sample_alert

ROOT = Path(__file__).resolve().parents[2]


def test_preview_prints_both_samples_for_wecom_and_dingtalk(capsys: pytest.CaptureFixture) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.count("#### WeCom markdown") == 2 and out.count("#### DingTalk markdown") == 2
    assert out.count("【告警】应用不健康") == 2 and out.count("【告警】容器 OOMKilled") == 2
    assert "2024-05-01 14:03:05" in out


def test_preview_payload_is_json(capsys: pytest.CaptureFixture) -> None:
    main(["--platform", "feishu", "--payload"])
    blocks = capsys.readouterr().out.split("```json\n")[1:]
    assert [json.loads(b.split("\n```")[0])["msg_type"] for b in blocks] == ["interactive"] * 2


def test_preview_runs_as_a_module() -> None:
    proc = subprocess.run([sys.executable, "-m", "notifiers.preview", "--lang", "en"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "[ALERT] Container OOMKilled" in proc.stdout


@pytest.mark.parametrize("kind,rule", [("oom", "oom-killed"), ("unhealthy", "endpoints-unhealthy")])
def test_sample_alerts_look_like_the_builtin_rules(kind: str, rule: str) -> None:
    alert = sample_alert(kind)  # type: ignore[arg-type]
    assert alert.rule == rule and alert.at.tzinfo is not None


def test_unknown_sample_kind_is_an_error() -> None:
    with pytest.raises(ValueError):
        sample_alert("disk")  # type: ignore[arg-type]
