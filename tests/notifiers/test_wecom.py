"""WeCom specifics: markdown byte limit, mention styles, text lists."""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from notifiers.samples import sample_alert
from tests.notifiers.hostile import MARKDOWN, TEXT, hostile_alert


def test_6000_byte_alert_becomes_valid_markdown_of_at_most_4096_bytes(
        wecom_rx: Any, make_notifier: Any) -> None:
    alert = sample_alert("oom")
    alert = replace(alert, fields=dict(alert.fields, message="内存" * 1000))
    result = make_notifier("wecom", wecom_rx.base).send_now(alert)
    assert result.ok, result  # the receiver answers 40058 above 4096 bytes
    content = wecom_rx.accepted[0].payload["markdown"]["content"]
    assert len(content.encode("utf-8")) <= 4096
    assert content.startswith('### <font color="warning">【告警】容器 OOMKilled</font>')
    assert "（内容过长，已截断）" in content and content.endswith("<@zhangsan>")


def test_markdown_mentions_are_inside_the_content(wecom_rx: Any, make_notifier: Any) -> None:
    make_notifier("wecom", wecom_rx.base).send_now(sample_alert("oom"))
    body = wecom_rx.accepted[0].payload
    assert "<@zhangsan>" in body["markdown"]["content"] and "mentioned_list" not in body["markdown"]


def test_text_uses_mention_lists_and_2048_bytes(wecom_rx: Any, make_notifier: Any) -> None:
    n = make_notifier("wecom", wecom_rx.base, msgtype="text",
                      mention={"mobiles": {"zhangsan": "13800000000"}, "always": ["oncall"],
                               "at_all_severities": ["critical"]})
    alert = sample_alert("oom")
    assert n.send_now(replace(alert, fields=dict(alert.fields, message="x" * 5000))).ok
    text = wecom_rx.accepted[0].payload["text"]
    assert text["mentioned_list"] == ["oncall", "@all"]
    assert text["mentioned_mobile_list"] == ["13800000000"]
    assert len(text["content"].encode()) <= 2048


def test_firing_is_warning_coloured_and_resolved_info(make_notifier: Any, wecom_rx: Any) -> None:
    n = make_notifier("wecom", wecom_rx.base)
    assert '<font color="warning">' in n.build([sample_alert("oom")]).message.text
    assert '<font color="info">【恢复】' in n.build(
        [sample_alert("oom", status="resolved")]).message.text


# -- a workload's own text cannot forge markup (issue "edges", item 9.2) -------------------------
def test_markdown_neutralises_a_hostile_termination_message(wecom_rx: Any,
                                                           make_notifier: Any) -> None:
    assert make_notifier("wecom", wecom_rx.base).send_now(hostile_alert()).ok
    content = wecom_rx.accepted[0].payload["markdown"]["content"]
    lines = content.split("\n")
    assert f'> 详情：<font color="comment">{MARKDOWN}</font>' in lines
    assert [line for line in lines if line.startswith("#")] == [
        '### <font color="warning">【告警】容器 OOMKilled</font>']
    assert all(line.startswith(("### ", "> ")) for line in lines[:-2]), content
    assert lines[-2:] == ["", "<@zhangsan>"]


def test_markdown_rule_template_cannot_forge_a_line(wecom_rx: Any, make_notifier: Any) -> None:
    n = make_notifier("wecom", wecom_rx.base,
                      template="**{{ title }}**\n> 说明：{{ annotations.description }}\n"
                               "> 团队：{{ labels.team }}")
    assert n.send_now(hostile_alert()).ok
    assert wecom_rx.accepted[0].payload["markdown"]["content"] == (
        "**【告警】容器 OOMKilled**\n> 说明：正常 ＃＃＃ 【恢复】应用不健康 ＞ 已恢复 ＜＠all＞"
        "\n> 团队：＜＠all＞［点此］(http:\u200b//evil)\n\n<@zhangsan>")


def test_text_neutralises_mentions_and_links(wecom_rx: Any, make_notifier: Any) -> None:
    assert make_notifier("wecom", wecom_rx.base, msgtype="text").send_now(hostile_alert()).ok
    text = wecom_rx.accepted[0].payload["text"]
    assert f"详情：{TEXT}" in text["content"].split("\n")
    assert text["mentioned_list"] == ["zhangsan"]
