"""@mentions: owners from a label or annotation, mapped to platform ids / mobiles."""
from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from notifiers import build_notifier
from notifiers.mentions import Mentions, owners, resolve
from notifiers.samples import sample_alert
from notifiers.settings import MentionSettings
from tests.notifiers.conftest import WECOM_KEY

URL = f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={WECOM_KEY}"


def test_owner_label_becomes_a_user_id() -> None:
    assert resolve(sample_alert("oom"), MentionSettings()).user_ids == ("zhangsan",)


def test_users_map_owner_to_platform_id() -> None:
    m = resolve(sample_alert("oom"), MentionSettings(users={"zhangsan": "ou_123"}))
    assert m.user_ids == ("ou_123",)


def test_owner_with_only_a_mobile_is_mentioned_by_mobile() -> None:
    m = resolve(sample_alert("oom"), MentionSettings(mobiles={"zhangsan": "13800000000"}))
    assert (m.user_ids, m.mobiles) == ((), ("13800000000",))


def test_annotation_lists_several_owners() -> None:
    alert = replace(sample_alert("oom"), object_annotations={"ops/owners": "li, wang;zhao"})
    assert owners(alert, MentionSettings(annotation="ops/owners", label="")) == ["li", "wang", "zhao"]


def test_always_and_at_all_by_severity() -> None:
    m = resolve(sample_alert("oom"), MentionSettings(always=("oncall",),
                                                      at_all_severities=("critical",)))
    assert m.user_ids == ("zhangsan", "oncall") and m.at_all


def test_resolved_alerts_mention_nobody_by_default() -> None:
    assert not resolve(sample_alert("oom", status="resolved"), MentionSettings())


def test_merge_keeps_order_and_drops_duplicates() -> None:
    a = Mentions(user_ids=("a", "b"), mobiles=("1",))
    assert a.merge(Mentions(user_ids=("b", "c"), at_all=True)) == \
        Mentions(user_ids=("a", "b", "c"), mobiles=("1",), at_all=True)


# -- a cluster value never pages everyone (issue "edges", item 9.1) ------------------------------
HOSTILE_OWNERS = ["all", "ALL", "@all", "所有人", "*", "<at id=all></at>", 'a" id="all',
                  "x>y", "-lead", "a" * 65]


def _owned_by(value: str) -> Any:
    return replace(sample_alert("oom"), object_labels={"app": "order-api", "owner": value})


@pytest.mark.parametrize("value", HOSTILE_OWNERS)
def test_an_owner_label_that_is_not_a_plain_id_mentions_nobody(value: str) -> None:
    m = resolve(_owned_by(value), MentionSettings())
    assert m == Mentions(), m
    assert owners(_owned_by(value), MentionSettings()) == []


def test_plain_ids_and_configured_owners_are_still_mentioned() -> None:
    alert = replace(sample_alert("oom"), object_annotations={
        "ops/owners": "li.si, wang-wu@corp, ou_7d8a6e6df7621556ce0d21922b676706, 13800000000,"
                      " all, 组长"})
    settings = MentionSettings(annotation="ops/owners", label="", users={"组长": "ou_lead"})
    assert resolve(alert, settings).user_ids == (
        "li.si", "wang-wu@corp", "ou_7d8a6e6df7621556ce0d21922b676706", "13800000000", "ou_lead")


def test_at_all_comes_only_from_the_config() -> None:
    assert not resolve(_owned_by("all"), MentionSettings()).at_all
    assert resolve(_owned_by("all"), MentionSettings(at_all_severities=("critical",))).at_all


def test_refused_owners_are_counted_and_logged_once_per_alert(
        caplog: pytest.LogCaptureFixture) -> None:
    n = build_notifier("ops", {"type": "wecom", "url": URL})
    alert = _owned_by("@all")
    for _ in range(3):  # a digest or a body-size retry renders the same alert again
        assert n.renderer.mentions(alert) == Mentions()
    assert n.renderer.refused_mentions == 1
    lines = [r for r in caplog.records if "not mentioned" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelname == "WARNING" and "'@all'" in lines[0].getMessage()


@pytest.mark.parametrize("platform,msgtype", [("wecom", "markdown"), ("wecom", "text"),
                                              ("dingtalk", "markdown"), ("dingtalk", "text"),
                                              ("feishu", "interactive"), ("feishu", "post"),
                                              ("feishu", "text")])
def test_owner_all_pages_nobody_on_any_platform(request: pytest.FixtureRequest,
                                                make_notifier: Any, platform: str,
                                                msgtype: str) -> None:
    rx = request.getfixturevalue({"wecom": "wecom_rx", "dingtalk": "ding_rx",
                                  "feishu": "feishu_rx"}[platform])
    n = make_notifier(platform, rx.base, msgtype=msgtype)
    for value in ("all", "@all", "所有人", "*"):
        assert n.send_now(_owned_by(value)).ok
    for received in rx.accepted:
        body = json.dumps(received.payload, ensure_ascii=False)
        for forged in ("<@all>", "<at id=all>", 'user_id="all"', '"user_id": "all"',
                       '"isAtAll": true', '"@all"', 'user_id=\\"all\\"', "@所有人", '"所有人"', '"*"', "<@*>"):
            assert forged not in body, (forged, body)
