"""Raw notifier settings: bad input names its key and says what was expected."""
from __future__ import annotations

from typing import Any

import pytest

from notifiers import NotifierDefaults, SettingsError, build_notifier
from tests.notifiers.conftest import DING_SECRET, DING_TOKEN, WECOM_KEY

WECOM_URL = f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={WECOM_KEY}"
DING_URL = f"https://oapi.dingtalk.com/robot/send?access_token={DING_TOKEN}"


def _error(raw: Any, name: str = "ops") -> SettingsError:
    with pytest.raises(SettingsError) as info:
        build_notifier(name, raw, defaults=NotifierDefaults())
    return info.value


def test_unknown_key_is_named() -> None:
    e = _error({"type": "wecom", "url": WECOM_URL, "sekret": "x"})
    assert e.key_path == ("ops", "sekret") and "unknown key" in e.message


def test_key_of_another_platform_is_unknown() -> None:
    assert _error({"type": "wecom", "url": WECOM_URL, "secret": "x"}).key_path == ("ops", "secret")


def test_wrong_type_says_what_was_expected() -> None:
    e = _error({"type": "wecom", "url": WECOM_URL, "rate_per_minute": "18"})
    assert e.key_path == ("ops", "rate_per_minute") and "expected an integer" in e.message


def test_a_boolean_is_not_an_integer() -> None:
    assert "expected an integer" in _error({"type": "wecom", "url": WECOM_URL,
                                            "burst": True}).message


def test_missing_type_is_reported() -> None:
    assert _error({"url": WECOM_URL}).key_path == ("ops", "type")


def test_unknown_type_is_reported() -> None:
    e = _error({"type": "slack", "url": WECOM_URL})
    assert e.key_path == ("ops", "type") and "wecom" in e.message


def test_missing_url_is_required() -> None:
    assert _error({"type": "wecom"}).message == "required"


def test_wecom_url_without_key_is_rejected_without_echoing_it() -> None:
    e = _error({"type": "wecom", "url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?x=1"})
    assert e.key_path == ("ops", "url") and "key=" in e.message and "x=1" not in str(e)


def test_dingtalk_url_with_a_sign_is_rejected() -> None:
    e = _error({"type": "dingtalk", "url": DING_URL + "&timestamp=1&sign=abc"})
    assert e.key_path == ("ops", "url") and "computed for every request" in e.message


def test_rate_above_the_platform_limit_is_rejected() -> None:
    e = _error({"type": "dingtalk", "url": DING_URL, "rate_per_minute": 30})
    assert e.key_path == ("ops", "rate_per_minute") and "platform allows 20" in e.message


def test_max_bytes_above_the_wecom_markdown_limit_is_rejected() -> None:
    e = _error({"type": "wecom", "url": WECOM_URL, "max_bytes": 5000})
    assert e.key_path == ("ops", "max_bytes") and "4096" in e.message


def test_text_msgtype_has_its_own_limit() -> None:
    n = build_notifier("ops", {"type": "wecom", "url": WECOM_URL, "msgtype": "text"})
    assert n.settings.max_bytes == 2048


def test_unknown_msgtype_lists_the_choices() -> None:
    e = _error({"type": "feishu", "url": "https://open.feishu.cn/open-apis/bot/v2/hook/abc",
                "msgtype": "markdown"})
    assert "interactive, post, text" in e.message


def test_nested_mention_key_path() -> None:
    e = _error({"type": "dingtalk", "url": DING_URL, "mention": {"mobiles": {"zhangsan": [1]}}})
    assert e.key_path == ("ops", "mention", "mobiles", "zhangsan")


def test_unquoted_mobile_numbers_are_accepted_as_text() -> None:
    n = build_notifier("ops", {"type": "dingtalk", "url": DING_URL,
                               "mention": {"mobiles": {"zhangsan": 13800000000}}})
    assert n.settings.mention.mobiles == {"zhangsan": "13800000000"}


def test_unknown_time_zone_is_rejected() -> None:
    assert _error({"type": "wecom", "url": WECOM_URL,
                   "timezone": "Mars/Olympus"}).key_path == ("ops", "timezone")


def test_template_syntax_error_names_the_line() -> None:
    e = _error({"type": "wecom", "url": WECOM_URL, "template": "ok\n{% if %}"})
    assert e.key_path == ("ops", "template") and e.message.startswith("line 2:")


def test_defaults_apply_and_notifier_values_override_them() -> None:
    defaults = NotifierDefaults(timezone="UTC", language="en", mention_label="team")
    n = build_notifier("ops", {"type": "wecom", "url": WECOM_URL, "language": "zh"},
                       defaults=defaults)
    assert (n.settings.timezone, n.settings.language, n.settings.mention.label) == \
        ("UTC", "zh", "team")


def test_platform_defaults() -> None:
    d = build_notifier("d", {"type": "dingtalk", "url": DING_URL}).settings
    f = build_notifier("f", {"type": "feishu",
                             "url": "https://open.feishu.cn/open-apis/bot/v2/hook/abc"}).settings
    assert (d.rate_per_minute, d.max_bytes, d.throttle_pause_seconds) == (18, 4000, 600.0)
    assert (f.rate_per_minute, f.msgtype) == (90, "interactive")


def test_settings_repr_hides_url_and_secrets() -> None:
    n = build_notifier("ops", {"type": "dingtalk", "url": DING_URL, "secret": DING_SECRET})
    assert DING_TOKEN not in repr(n.settings) and DING_SECRET not in repr(n.settings)
    assert DING_TOKEN not in repr(n)


def test_credential_values_are_secrets_but_ordinary_ones_are_not() -> None:
    n = build_notifier("ops", {"type": "webhook", "url": "https://h.example.com/x?format=markdown"
                               "&token=tok-123456", "headers": {"Authorization": "Bearer abcdef",
                                                                "Content-Type": "text/plain"}})
    secrets = n.secrets()
    assert "tok-123456" in secrets and "Bearer abcdef" in secrets
    assert "markdown" not in secrets and "text/plain" not in secrets
