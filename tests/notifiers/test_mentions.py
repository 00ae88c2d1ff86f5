"""@mentions: owners from a label or annotation, mapped to platform ids / mobiles."""
from __future__ import annotations

from dataclasses import replace

from notifiers.mentions import Mentions, owners, resolve
from notifiers.samples import sample_alert
from notifiers.settings import MentionSettings


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
