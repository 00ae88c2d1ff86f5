"""The signed link as tables: a valid token gives back its rule and key; a tampered payload or
signature, another key, an expired or malformed token is refused without echoing it; and the
link row on firing cards only, a link on every platform, escaped like the Kibana link."""
from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import timedelta

import pytest

from notifiers import NotifierDefaults, build_notifier
from notifiers.samples import sample_alert
from notifiers.silencelink import LINK_TTL, LinkError, SilenceLinker, sign, verify
from tests.silences.helpers import HOUR, NOW, Clock

SECRET = "link-secret-5e8d2c7a9b1f4036"
RULE, KEY = "oom-killed", "shop/order-api-7d9f8b6c5-x2k4p/app"


def token(**kw) -> str:
    return sign(kw.pop("secret", SECRET), rule=kw.pop("rule", RULE), key=kw.pop("key", KEY),
                expires_at=kw.pop("expires_at", NOW + LINK_TTL))


def test_a_valid_token_names_its_rule_and_key() -> None:
    target = verify(SECRET, token(), NOW + LINK_TTL - timedelta(seconds=1))
    assert (target.rule, target.key, target.expires_at) == (RULE, KEY, NOW + LINK_TTL)
    assert verify(SECRET, token(key="ns/名字/app"), NOW).key == "ns/名字/app"


def _reencoded(tok: str, **changes) -> str:
    body, sig = tok.split(".")
    data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    data.update(changes)
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode() + "." + sig


def _flip_last(text: str) -> str:
    return text[:-1] + ("A" if text[-1] != "A" else "B")


@pytest.mark.parametrize(("make", "now", "message"), [
    (lambda: _reencoded(token(), k="shop/other/app"), NOW, "signature does not match"),
    (lambda: _reencoded(token(), x=int((NOW + 100 * LINK_TTL).timestamp())), NOW, "signature does not match"),
    (lambda: _flip_last(token()), NOW, "signature does not match"),
    (lambda: token(secret="another-secret-0123456789"), NOW, "signature does not match"),
    (lambda: token(), NOW + LINK_TTL, "expired"),
    (lambda: token(expires_at=NOW - HOUR), NOW, "expired"),
    (lambda: "", NOW, "malformed"),
    (lambda: "no-dot", NOW, "malformed"),
    (lambda: "a.b.c", NOW, "malformed"),
    (lambda: "x" * 5000 + ".y", NOW, "malformed"),
    (lambda: "ab.!!!", NOW, "malformed"),
    (lambda: "é.abc", NOW, "malformed"),
])
def test_refused_tokens(make, now, message) -> None:
    bad = make()
    with pytest.raises(LinkError, match=message) as err:
        verify(SECRET, bad, now)
    assert not bad or bad not in str(err.value)


def test_a_signed_payload_that_is_not_a_target_is_refused() -> None:
    import hashlib
    import hmac

    body = base64.urlsafe_b64encode(b'{"v":1,"r":"","k":"x","x":9999999999}').rstrip(b"=").decode()
    mac = hmac.new(SECRET.encode(), b"kea-silence-link.v1." + body.encode(), hashlib.sha256).digest()
    forged = body + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    with pytest.raises(LinkError, match="malformed"):
        verify(SECRET, forged, NOW)


def test_no_secret_no_links() -> None:
    with pytest.raises(LinkError, match="off"):
        verify("", token(), NOW)


def test_the_linker_signs_for_firing_alerts_only_and_hides_its_secret() -> None:
    linker = SilenceLinker("https://kea.example.com/", SECRET, clock=Clock())
    url = linker.url(sample_alert("oom", now=NOW))
    assert url.startswith("https://kea.example.com/silence?t=")
    assert verify(SECRET, url.split("t=", 1)[1], NOW + LINK_TTL / 2).key == KEY
    assert linker.url(sample_alert("oom", now=NOW, status="resolved")) == ""
    assert SECRET not in repr(linker)
    assert SilenceLinker("https://kea.example.com/a (b)", SECRET, clock=Clock()).base_url == \
        "https://kea.example.com/a%20%28b%29"


URLS = {"wecom": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=wk-0123",
        "dingtalk": "https://oapi.dingtalk.com/robot/send?access_token=dt-0123",
        "feishu": "https://open.feishu.cn/open-apis/bot/v2/hook/fs-0123",
        "webhook": "https://hooks.example.com/kea"}


def render(kind: str, alert, **raw) -> str:
    defaults = NotifierDefaults(silence_link=SilenceLinker("https://kea.example.com", SECRET, clock=Clock()))
    return build_notifier("n", {"type": kind, "url": URLS[kind], **raw}, defaults=defaults).renderer.render(alert)


@pytest.mark.parametrize(("kind", "raw", "shape"), [
    ("wecom", {}, "> 静默：[静默 1 小时](https://kea.example.com/silence?t="),
    ("wecom", {"msgtype": "text"}, "静默：https://kea.example.com/silence?t="),
    ("dingtalk", {"msgtype": "markdown"}, "- **静默**：[静默 1 小时](https://kea.example.com/silence?t="),
    ("feishu", {"msgtype": "interactive"}, "**静默**：[静默 1 小时](https://kea.example.com/silence?t="),
    ("webhook", {}, "静默：https://kea.example.com/silence?t="),
])
def test_a_firing_card_carries_the_link_on_every_platform(kind, raw, shape) -> None:
    text = render(kind, sample_alert("oom", now=NOW), **raw)
    assert shape in text
    tok = text.split("silence?t=", 1)[1].split(")")[0].split()[0].split('"')[0].split("\\")[0]
    assert verify(SECRET, tok, NOW).key == KEY


def test_a_resolved_card_and_a_card_without_the_setting_have_no_link() -> None:
    assert "silence?t=" not in render("wecom", sample_alert("oom", now=NOW, status="resolved"))
    plain = build_notifier("n", {"type": "wecom", "url": URLS["wecom"]}).renderer.render(sample_alert("oom", now=NOW))
    assert "静默" not in plain


def test_a_key_from_the_cluster_cannot_break_out_of_the_link() -> None:
    alert = replace(sample_alert("oom", now=NOW), key="shop/x)[evil](http://evil.example)/app")
    text = render("wecom", alert)
    assert "evil.example" not in text  # the key travels signed inside the base64 token only
