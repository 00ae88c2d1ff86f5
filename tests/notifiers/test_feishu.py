"""Feishu specifics: body signing in seconds, 20 KB body, message types, 5/s."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from notifiers.samples import sample_alert
from tests.notifiers.hostile import FEISHU_TEXT, MARKDOWN, TEXT, hostile_alert


@pytest.mark.parametrize("msgtype", ["interactive", "post", "text"])
def test_each_message_type_is_accepted_signed(feishu_rx: Any, make_notifier: Any,
                                              msgtype: str) -> None:
    n = make_notifier("feishu", feishu_rx.base, msgtype=msgtype)
    assert n.send_now(sample_alert("oom")).ok
    payload = feishu_rx.accepted[0].payload
    assert payload["msg_type"] == msgtype and payload["sign"] and payload["timestamp"].isdigit()
    assert "OOMKilled" in feishu_rx.texts()[0]


def test_card_header_carries_the_title_once(feishu_rx: Any, make_notifier: Any) -> None:
    n = make_notifier("feishu", feishu_rx.base)
    n.send_now(sample_alert("oom"))
    card = feishu_rx.accepted[0].payload["card"]
    assert card["header"]["title"]["content"] == "【告警】容器 OOMKilled"
    assert card["header"]["template"] == "red"
    assert "【告警】" not in feishu_rx.texts()[0]


def test_clock_skew_is_a_permanent_19021(feishu_rx: Any, make_notifier: Any, clock: Any) -> None:
    n = make_notifier("feishu", feishu_rx.base)
    n.sender.clock = lambda: clock.now() + timedelta(hours=2)
    result = n.send_now(sample_alert("oom"))
    assert (result.kind, result.code, result.http_status) == ("permanent", "19021", 400)


def test_wrong_secret_is_a_permanent_19021(feishu_rx: Any, make_notifier: Any) -> None:
    n = make_notifier("feishu", feishu_rx.base, secret="not-the-secret")
    assert n.send_now(sample_alert("oom")).code == "19021"


def test_huge_post_stays_under_20_kb(feishu_rx: Any, make_notifier: Any) -> None:
    # 18,000 bytes of one-character lines: each line costs ~30 bytes of post JSON, so the
    # content limit alone would give a ~130 KB body; the body check must shrink it.
    n = make_notifier("feishu", feishu_rx.base, msgtype="post",
                      template="{% for i in range(6000) %}告\n{% endfor %}")
    message = n.build([sample_alert("oom")]).message
    assert len(message.text.encode()) < 18000
    assert n.deliver(message).ok  # the receiver rejects bodies over 20 KB


def test_limiter_keeps_under_five_per_second(make_notifier: Any, feishu_rx: Any,
                                             clock: Any) -> None:
    n = make_notifier("feishu", feishu_rx.base)
    limiter = n.new_limiter(clock.monotonic)
    assert [limiter.try_acquire() == 0 for _ in range(5)] == [True] * 4 + [False]


# -- a workload's own text cannot forge markup (issue "edges", item 9.2) -------------------------
def test_card_neutralises_a_hostile_termination_message(feishu_rx: Any,
                                                       make_notifier: Any) -> None:
    assert make_notifier("feishu", feishu_rx.base).send_now(hostile_alert()).ok
    lines = feishu_rx.texts()[0].split("\n")
    assert f"**详情**：{MARKDOWN}" in lines
    assert all(line.startswith("**") for line in lines[:-2]) and lines[-2:] == [
        "", "<at id=zhangsan></at>"], lines


def test_text_cannot_forge_an_at_tag(feishu_rx: Any, make_notifier: Any) -> None:
    assert make_notifier("feishu", feishu_rx.base, msgtype="text").send_now(hostile_alert()).ok
    lines = feishu_rx.texts()[0].split("\n")
    assert f"详情：{FEISHU_TEXT}" in lines
    assert lines[-1] == '<at user_id="zhangsan"></at>'


def test_post_text_has_no_mention_or_link(feishu_rx: Any, make_notifier: Any) -> None:
    assert make_notifier("feishu", feishu_rx.base, msgtype="post").send_now(hostile_alert()).ok
    content = next(iter(feishu_rx.accepted[0].payload["content"]["post"].values()))["content"]
    assert [{"tag": "text", "text": f"详情：{TEXT}"}] in content
    assert content[-1] == [{"tag": "at", "user_id": "zhangsan"}]
