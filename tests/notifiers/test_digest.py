"""Digests: queued alerts merged into one message that still fits the platform limit."""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from notifiers.samples import sample_alert
from notifiers.text import utf8_len
from tests.notifiers.conftest import numbered_alerts


def test_digest_packs_what_fits_and_says_how_many_follow(make_notifier: Any, wecom_rx: Any
                                                         ) -> None:
    n = make_notifier("wecom", wecom_rx.base)
    built = n.build(numbered_alerts(30))
    text = built.message.text
    assert 1 < built.count < 30 and utf8_len(text) <= 4096
    assert f"【汇总】{built.count} 条通知" in text and f"另有 {30 - built.count} 条稍后发送" in text
    assert built.message.alert_ids == tuple(a.id for a in numbered_alerts(30)[: built.count])


def test_digest_carries_every_included_alert(make_notifier: Any, wecom_rx: Any) -> None:
    n = make_notifier("wecom", wecom_rx.base)
    built = n.build(numbered_alerts(4))
    assert built.count == 4
    assert all(f"burst-pod-{i:02d}" in built.message.text for i in range(4))


def test_digest_mentions_everyone_once(make_notifier: Any, wecom_rx: Any) -> None:
    n = make_notifier("wecom", wecom_rx.base)
    alerts = numbered_alerts(3)
    alerts[1] = replace(alerts[1], object_labels={"owner": "lisi"})
    text = n.build(alerts).message.text
    assert text.count("<@zhangsan>") == 1 and text.count("<@lisi>") == 1


def test_a_first_alert_too_big_to_share_goes_alone_cut(make_notifier: Any, wecom_rx: Any) -> None:
    n = make_notifier("wecom", wecom_rx.base)
    big = sample_alert("oom")
    big = replace(big, fields=dict(big.fields, message="内存" * 1000))
    built = n.build([big, *numbered_alerts(3)])
    assert built.count == 1 and utf8_len(built.message.text) <= 4096
    assert "【汇总】" not in built.message.text


def test_max_batch_caps_a_digest(make_notifier: Any, wecom_rx: Any) -> None:
    n = make_notifier("wecom", wecom_rx.base, max_batch=2)
    assert n.build(numbered_alerts(5)).count == 2


def test_dingtalk_digest_title_is_the_digest_header(make_notifier: Any, ding_rx: Any) -> None:
    n = make_notifier("dingtalk", ding_rx.base)
    built = n.build(numbered_alerts(2) + [sample_alert("oom", status="resolved")])
    assert built.message.payload["markdown"]["title"].startswith("【汇总】3 条通知（2 条告警，1 条恢复）")
