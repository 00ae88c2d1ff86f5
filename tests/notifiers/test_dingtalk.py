"""DingTalk specifics: signing as the platform verifies it, keywords, @mobile in the text."""
from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import replace
from datetime import timedelta
from typing import Any
from urllib.parse import quote_plus

from notifiers.dingtalk import sign
from notifiers.samples import sample_alert
from tests.notifiers.conftest import DING_SECRET
from tests.notifiers.hostile import MARKDOWN, TEXT, hostile_alert


def test_signed_request_is_verified_by_the_receiver(ding_rx: Any, make_notifier: Any) -> None:
    result = make_notifier("dingtalk", ding_rx.base).send_now(sample_alert("oom"))
    assert result.ok, result
    query = ding_rx.accepted[0].query
    assert len(query["timestamp"]) == 1 and len(query["sign"]) == 1


def test_sign_matches_the_documented_recipe() -> None:
    ts = 1714543385000
    mac = hmac.new(DING_SECRET.encode(), f"{ts}\n{DING_SECRET}".encode(), hashlib.sha256)
    assert sign(ts, DING_SECRET) == quote_plus(base64.b64encode(mac.digest()))


def test_every_request_is_signed_afresh_and_never_twice(ding_rx: Any, make_notifier: Any,
                                                        clock: Any) -> None:
    n = make_notifier("dingtalk", ding_rx.base)
    assert n.send_now(sample_alert("oom")).ok
    clock.advance(5)
    assert n.send_now(sample_alert("unhealthy")).ok
    stamps = [r.query["timestamp"] for r in ding_rx.accepted]
    assert stamps[0] != stamps[1] and all(len(s) == 1 for s in stamps)
    assert "timestamp" not in n.settings.url


def test_clock_skew_over_an_hour_is_a_permanent_310000(ding_rx: Any, make_notifier: Any,
                                                       clock: Any) -> None:
    n = make_notifier("dingtalk", ding_rx.base)
    n.sender.clock = lambda: clock.now() - timedelta(hours=2)
    result = n.send_now(sample_alert("oom"))
    assert (result.kind, result.code) == ("permanent", "310000")
    assert "clock skew" in result.message


def test_keyword_is_appended_when_the_template_has_none(ding_rx: Any, make_notifier: Any,
                                                        caplog: Any) -> None:
    n = make_notifier("dingtalk", ding_rx.base, template="Pod {{ fields.pod }} OOM")
    assert any("none of the robot's keywords" in r.getMessage() for r in caplog.records)
    assert n.send_now(sample_alert("oom")).ok  # the receiver enforces the keyword
    assert ding_rx.texts()[0].endswith("告警")


def test_keyword_survives_truncation(ding_rx: Any, make_notifier: Any) -> None:
    n = make_notifier("dingtalk", ding_rx.base, template="{{ fields.message }}", max_bytes=1000)
    alert = sample_alert("oom")
    assert n.send_now(replace(alert, fields=dict(alert.fields, message="x" * 5000))).ok
    assert len(ding_rx.texts()[0].encode()) <= 1000


def test_mobile_mentions_appear_as_at_mobile_in_the_text(ding_rx: Any, make_notifier: Any
                                                         ) -> None:
    n = make_notifier("dingtalk", ding_rx.base, mention={"mobiles": {"zhangsan": "13800000000"}})
    assert n.send_now(sample_alert("oom")).ok
    payload = ding_rx.accepted[0].payload
    assert payload["at"]["atMobiles"] == ["13800000000"]
    assert "@13800000000" in payload["markdown"]["text"]
    assert payload["markdown"]["title"] == "【告警】容器 OOMKilled"


def test_unknown_token_is_a_permanent_300001(ding_rx: Any, make_notifier: Any) -> None:
    from tests.notifiers.conftest import WRONG_KEY, url_for
    n = make_notifier("dingtalk", ding_rx.base,
                      url=url_for("dingtalk", ding_rx.base, credential=WRONG_KEY))
    assert n.send_now(sample_alert("oom")).code == "300001"


# -- a workload's own text cannot forge markup (issue "edges", item 9.2) -------------------------
def test_markdown_neutralises_a_hostile_termination_message(ding_rx: Any,
                                                           make_notifier: Any) -> None:
    n = make_notifier("dingtalk", ding_rx.base, mention={"mobiles": {"zhangsan": "13900000000"}})
    assert n.send_now(hostile_alert()).ok
    payload = ding_rx.accepted[0].payload
    lines = payload["markdown"]["text"].split("\n")
    assert f"- **详情**：{MARKDOWN}" in lines
    assert [line for line in lines if line.startswith("#")] == ["### 【告警】容器 OOMKilled"]
    assert all(line.startswith(("### ", "- ")) for line in lines[:-2]), lines
    assert lines[-2:] == ["", "@13900000000"]
    assert payload["at"] == {"atMobiles": ["13900000000"], "atUserIds": [], "isAtAll": False}


def test_text_neutralises_mentions_and_links(ding_rx: Any, make_notifier: Any) -> None:
    n = make_notifier("dingtalk", ding_rx.base, msgtype="text")
    assert n.send_now(hostile_alert()).ok
    payload = ding_rx.accepted[0].payload
    assert f"详情：{TEXT}" in payload["text"]["content"].split("\n")
    assert "@13800000000" not in payload["text"]["content"]
    assert payload["at"] == {"atMobiles": [], "atUserIds": ["zhangsan"], "isAtAll": False}
