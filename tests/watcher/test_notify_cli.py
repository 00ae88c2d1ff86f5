"""`kube-event-alerter notify test NAME` against the protocol-true local receivers."""
from datetime import datetime, timezone

import pytest

from tests.notifiers.receivers import DingRobot, DingTalkReceiver, FakeClock, WeComReceiver
from watcher.cli import main

KEY = "wk-cli-7d1e2f3a4b5c"
TOKEN = "dt-cli-1a2b3c4d5e6f"
SECRET = "SECcli0f1e2d3c4b5a69788"


@pytest.fixture
def receivers():
    clock = FakeClock(datetime.now(timezone.utc))  # DingTalk checks the signature's time
    wecom = WeComReceiver(clock, keys=(KEY,)).start()
    ding = DingTalkReceiver(clock, robots={TOKEN: DingRobot(SECRET, ("告警", "恢复"))})
    ding.start()
    yield wecom, ding
    wecom.stop()
    ding.stop()


def _config(tmp_path, wecom, ding, key=KEY):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"""
cluster: test
notifiers:
  ops-wecom: {{type: wecom, url: "{wecom.base}/cgi-bin/webhook/send?key={key}"}}
  ops-ding: {{type: dingtalk, url: "{ding.base}/robot/send?access_token={TOKEN}", secret: {SECRET}, keywords: [告警]}}
""")
    return str(cfg)


def test_sends_a_sample_through_wecom_and_dingtalk(tmp_path, receivers, capsys):
    wecom, ding = receivers
    cfg = _config(tmp_path, wecom, ding)
    assert main(["notify", "test", "ops-wecom", "-c", cfg]) == 0
    assert main(["notify", "test", "ops-ding", "-c", cfg, "--kind", "unhealthy"]) == 0
    assert len(wecom.accepted) == 1 and "OOMKilled" in wecom.texts()[0]
    assert len(ding.accepted) == 1 and "不健康" in ding.texts()[0]
    out = capsys.readouterr().out
    assert "ops-wecom (wecom)" in out and KEY not in out and SECRET not in out and TOKEN not in out


def test_platform_rejection_is_printed_and_exits_1(tmp_path, receivers, capsys):
    wecom, ding = receivers
    cfg = _config(tmp_path, wecom, ding, key="wk-wrong-000000")
    assert main(["notify", "test", "ops-wecom", "-c", cfg]) == 1
    out = capsys.readouterr().out
    assert "93000" in out and "wk-wrong-000000" not in out


def test_unknown_notifier_name(tmp_path, receivers, capsys):
    cfg = _config(tmp_path, *receivers)
    assert main(["notify", "test", "nope", "-c", cfg]) == 2
    assert "no notifier named `nope`" in capsys.readouterr().err
