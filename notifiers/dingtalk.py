"""DingTalk (钉钉) custom robot: `POST …/robot/send?access_token=T[&timestamp=…&sign=…]`.

Security is mandatory on DingTalk robots; this supports two of the three kinds:
- custom keywords: a message must contain one. `keywords` lists them and the composer
  (compose.py) appends the first one when a rendered message has none (the built-in
  templates carry 告警 / 恢复).
- signing ("加签"): `ts` in epoch milliseconds (within 1 hour of DingTalk's clock),
  `string_to_sign = ts + "\\n" + secret`, HMAC-SHA256 keyed by the secret, base64, URL-encoded
  exactly once, appended as `&timestamp=ts&sign=…` to the configured URL, fresh for every
  request. The configured URL is never modified, so the parameters are never appended twice
  (the DingtalkChatbot `update_webhook` bug; double encoding gives "sign not match",
  x-cold/dingtalk-robot#7).
A mention shows only if `@mobile` also appears in the text, so the composer appends the mention line.
20 messages per minute per robot; the 21st blocks the robot for about 10 minutes (130101).
No official size limit (users hit 460101 around 20,000 bytes): `max_bytes` defaults to 4000.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any, Mapping, Sequence
from urllib.parse import parse_qs, quote_plus, urlsplit

import orjson

from rules.alert import Alert

from .compose import Message
from .mentions import Mentions
from .platform import CodeRule, DeliveryResult, Platform, parse_json
from .settings import PlatformSpec


def sign(timestamp_ms: int, secret: str) -> str:
    """The `sign` query value, already URL-encoded (once)."""
    string_to_sign = f"{timestamp_ms}\n{secret}"
    digest = hmac.new(secret.encode("utf-8"), string_to_sign.encode("utf-8"),
                      hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest))


def _check_url(url: str) -> str | None:
    query = parse_qs(urlsplit(url).query)
    if not query.get("access_token"):
        return "expected the robot's webhook URL ending in /robot/send?access_token=…"
    if "timestamp" in query or "sign" in query:
        return ("must not contain timestamp= or sign=: they are computed for every request "
                "from `secret`")
    return None


SPEC = PlatformSpec(
    type="dingtalk",
    msgtypes=("markdown", "text"),
    max_bytes={"markdown": (4000, 20000), "text": (4000, 20000)},
    rate_per_minute=18, max_rate_per_minute=20, burst=5,
    # 130101: the robot is blocked for about 10 minutes; knocking earlier changes nothing.
    throttle_pause_seconds=600.0, min_throttle_pause_seconds=60.0,
    extra_keys=frozenset({"secret", "keywords"}),
    check_url=_check_url,
)


class DingTalkPlatform(Platform):
    platform = "dingtalk"
    spec = SPEC
    codes = {
        -1: CodeRule("retry", "system busy"),
        130101: CodeRule("throttle", "sent too fast (over 20/min): robot blocked for ~10 min"),
        90030: CodeRule("throttle", "webhook over its quota"),
        310000: CodeRule("permanent", "keyword missing, signature mismatch (check the secret "
                                      "and clock skew) or IP not allowed"),
        300001: CodeRule("permanent", "invalid access_token"),
        300005: CodeRule("permanent", "invalid access_token"),
        400013: CodeRule("permanent", "robot disabled"),
        460101: CodeRule("permanent", "message too long"),
    }

    def mention_text(self, mentions: Mentions) -> str:
        return " ".join(f"@{x}" for x in (*mentions.mobiles, *mentions.user_ids))

    def payload(self, *, title: str, text: str, mentions: Mentions, alerts: Sequence[Alert],
                body_title: str = "") -> dict[str, Any]:
        at = {"atMobiles": list(mentions.mobiles), "atUserIds": list(mentions.user_ids),
              "isAtAll": mentions.at_all}
        if self.settings.msgtype == "markdown":
            return {"msgtype": "markdown", "markdown": {"title": title, "text": text}, "at": at}
        return {"msgtype": "text", "text": {"content": text}, "at": at}

    def format_header(self, header: str) -> str:
        return f"**{header}**" if self.settings.msgtype == "markdown" else header

    def prepare(self, message: Message) -> tuple[str, dict[str, str], bytes]:
        url = self.settings.url
        if self.settings.secret:
            ts = int(self.clock().timestamp() * 1000)
            url = f"{url}&timestamp={ts}&sign={sign(ts, self.settings.secret)}"
        return url, self.json_headers(), orjson.dumps(message.payload)

    def classify(self, status: int, body: bytes, headers: Mapping[str, str]) -> DeliveryResult:
        data = parse_json(body)
        if data is None or not isinstance(data.get("errcode"), int):
            return self.result_for_http(status, headers, body)
        return self.result_for_code(data["errcode"], str(data.get("errmsg", "")),
                                    http_status=status, body=body)
