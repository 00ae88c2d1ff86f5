"""Feishu / Lark custom bot: `POST …/open-apis/bot/v2/hook/<token>`.

The token in the path is the credential. Signing differs from DingTalk: `ts` in epoch
**seconds** (within 1 hour), HMAC-SHA256 with **key** `ts + "\\n" + secret` over an **empty**
message, base64, not URL-encoded, sent as `"timestamp"` and `"sign"` in the JSON body.
Errors come with HTTP 400 and `code` (19021 signature, 9499 / 11232 rate limit). Limits:
5 requests/s and 100/min per bot, body ≤ 20 KB. Docs: open.feishu.cn/document/client-docs/bot-v3/add-custom-bot
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any, Mapping, Sequence
from urllib.parse import urlsplit

import orjson

from rules.alert import Alert

from .compose import Message
from .markup import Flavour
from .mentions import Mentions
from .platform import CodeRule, DeliveryResult, Platform, parse_json
from .settings import PlatformSpec

_HOOK = "/bot/v2/hook/"


def sign(timestamp_s: int, secret: str) -> str:
    key = f"{timestamp_s}\n{secret}".encode("utf-8")
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode("ascii")


def _check_url(url: str) -> str | None:
    path = urlsplit(url).path
    if _HOOK not in path or not path.split(_HOOK, 1)[1].strip("/"):
        return "expected the bot's webhook URL ending in /open-apis/bot/v2/hook/<token>"
    return None


SPEC = PlatformSpec(
    type="feishu",
    msgtypes=("interactive", "post", "text"),
    max_bytes={"interactive": (18000, 19000), "post": (18000, 19000), "text": (18000, 19000)},
    rate_per_minute=90, max_rate_per_minute=100, burst=4,
    throttle_pause_seconds=60.0, min_throttle_pause_seconds=1.0,
    extra_keys=frozenset({"secret", "keywords"}),
    check_url=_check_url,
)


class FeishuPlatform(Platform):
    platform = "feishu"
    spec = SPEC
    max_body_bytes = 20_000
    codes = {
        9499: CodeRule("throttle", "too many requests (5/s, 100/min per bot)"),
        11232: CodeRule("throttle", "flow control"),
        2200: CodeRule("retry", "internal error"),
        19021: CodeRule("permanent", "signature mismatch or timestamp not within one hour "
                                     "(check the secret and clock skew)"),
        # The next three are seen in the wild, not in the official table (unverified).
        19001: CodeRule("permanent", "invalid hook token or parameters"),
        19022: CodeRule("permanent", "IP not allowed"),
        19024: CodeRule("permanent", "keyword not found"),
    }

    def markup(self) -> Flavour:
        # lark_md is markdown; text messages parse <at user_id=…>; post text elements are plain.
        by_msgtype: dict[str, Flavour] = {"interactive": "markdown", "text": "feishu_text"}
        return by_msgtype.get(self.settings.msgtype, "text")

    def windows(self) -> tuple[tuple[float, int], ...]:
        # 5/s and 100/min: stay one under the per-second limit as well.
        return ((1.0, 4), (60.0, self.settings.rate_per_minute))

    def secrets(self) -> list[str]:
        token = urlsplit(self.settings.url).path.split(_HOOK, 1)[-1].strip("/")
        return [*super().secrets(), token]

    def mention_text(self, mentions: Mentions) -> str:
        if self.settings.msgtype == "interactive":
            ats = [f"<at id={u}></at>" for u in mentions.user_ids]
            return " ".join(ats + (["<at id=all></at>"] if mentions.at_all else []))
        if self.settings.msgtype == "text":
            ats = [f'<at user_id="{u}"></at>' for u in mentions.user_ids]
            return " ".join(ats + (['<at user_id="all"></at>'] if mentions.at_all else []))
        return ""  # post: at tags in the payload

    def format_header(self, header: str) -> str:
        return f"**{header}**" if self.settings.msgtype == "interactive" else header

    def payload(self, *, title: str, text: str, mentions: Mentions, alerts: Sequence[Alert],
                body_title: str = "") -> dict[str, Any]:
        msgtype = self.settings.msgtype
        if msgtype == "text":
            return {"msg_type": "text", "content": {"text": text}}
        if body_title:
            text = _without_title(text, body_title)
        if msgtype == "post":
            return self._post(title, text, mentions)
        colour = "orange" if len(alerts) > 1 else ("red" if alerts[0].status == "firing"
                                                    else "green")
        return {"msg_type": "interactive", "card": {
            "config": {"wide_screen_mode": True},
            "header": {"title": {"tag": "plain_text", "content": title}, "template": colour},
            "elements": [{"tag": "div", "text": {"tag": "lark_md", "content": text}}],
        }}

    def _post(self, title: str, text: str, mentions: Mentions) -> dict[str, Any]:
        lines: list[list[dict[str, str]]] = [[{"tag": "text", "text": line}]
                                             for line in text.split("\n")]
        ats = [{"tag": "at", "user_id": u} for u in mentions.user_ids]
        if mentions.at_all:
            ats.append({"tag": "at", "user_id": "all"})
        if ats:
            lines.append(ats)
        lang = "zh_cn" if self.settings.language == "zh" else "en_us"
        return {"msg_type": "post", "content": {"post": {lang: {"title": title, "content": lines}}}}

    def prepare(self, message: Message) -> tuple[str, dict[str, str], bytes]:
        payload = dict(message.payload)
        if self.settings.secret:
            ts = int(self.clock().timestamp())
            payload["timestamp"] = str(ts)
            payload["sign"] = sign(ts, self.settings.secret)
        return self.settings.url, self.json_headers(), orjson.dumps(payload)

    def classify(self, status: int, body: bytes, headers: Mapping[str, str]) -> DeliveryResult:
        data = parse_json(body)
        code = None if data is None else data.get("code", data.get("StatusCode"))
        if data is None or not isinstance(code, int):
            return self.result_for_http(status, headers, body)
        return self.result_for_code(code, str(data.get("msg") or data.get("StatusMessage") or ""),
                                    http_status=status, body=body)


def _without_title(text: str, title: str) -> str:
    """The card header / post title already shows a single alert's title."""
    first, _, rest = text.partition("\n")
    if title in first:
        return rest.lstrip("\n")
    return text

