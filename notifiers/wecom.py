"""WeCom (企业微信) group robot: `POST …/cgi-bin/webhook/send?key=KEY`.

The key in the URL is the only credential (no signing). Message types used: `markdown`
(content ≤ 4096 bytes, mentions as `<@userid>` inside the content, colours info / comment /
warning) and `text` (content ≤ 2048 bytes, `mentioned_list` / `mentioned_mobile_list`).
20 messages per minute per robot. The answer is `{"errcode":0,"errmsg":"ok"}` with HTTP 200
also on errors, so only `errcode` counts. API doc: developer.work.weixin.qq.com/document/path/91770
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence
from urllib.parse import parse_qs, urlsplit

from rules.alert import Alert

from .mentions import Mentions
from .platform import CodeRule, DeliveryResult, Platform, parse_json
from .settings import PlatformSpec


def _check_url(url: str) -> str | None:
    if not parse_qs(urlsplit(url).query).get("key"):
        return "expected the robot's webhook URL ending in /cgi-bin/webhook/send?key=…"
    return None


SPEC = PlatformSpec(
    type="wecom",
    msgtypes=("markdown", "text"),
    max_bytes={"markdown": (4096, 4096), "text": (2048, 2048)},
    rate_per_minute=18, max_rate_per_minute=20, burst=5,
    # 45009: back off at least a minute, the limit is per minute.
    throttle_pause_seconds=60.0, min_throttle_pause_seconds=60.0,
    check_url=_check_url,
)


class WeComPlatform(Platform):
    platform = "wecom"
    spec = SPEC
    codes = {
        -1: CodeRule("retry", "system busy"),
        45009: CodeRule("throttle", "frequency limit (20 messages/min per robot)"),
        93000: CodeRule("permanent", "invalid webhook URL or key"),
        40008: CodeRule("permanent", "invalid msgtype"),
        # Reported for markdown content over 4096 bytes (feiyu563/PrometheusAlert#155).
        40058: CodeRule("permanent", "invalid parameter (content too long?)"),
    }

    def mention_text(self, mentions: Mentions) -> str:
        if self.settings.msgtype == "markdown":
            # Markdown ignores mentioned_list; only <@userid> in the content notifies.
            return " ".join(f"<@{u}>" for u in mentions.user_ids)
        return ""  # text: the mention lists in the payload do it

    def payload(self, *, title: str, text: str, mentions: Mentions, alerts: Sequence[Alert],
                body_title: str = "") -> dict[str, Any]:
        if self.settings.msgtype == "markdown":
            return {"msgtype": "markdown", "markdown": {"content": text}}
        users = list(mentions.user_ids) + (["@all"] if mentions.at_all else [])
        body: dict[str, Any] = {"content": text}
        if users:
            body["mentioned_list"] = users
        if mentions.mobiles:
            body["mentioned_mobile_list"] = list(mentions.mobiles)
        return {"msgtype": "text", "text": body}

    def format_header(self, header: str) -> str:
        return f"**{header}**" if self.settings.msgtype == "markdown" else header

    def classify(self, status: int, body: bytes, headers: Mapping[str, str]) -> DeliveryResult:
        data = parse_json(body)
        if data is None or not isinstance(data.get("errcode"), int):
            return self.result_for_http(status, headers, body)
        return self.result_for_code(data["errcode"], str(data.get("errmsg", "")),
                                    http_status=status, body=body)
