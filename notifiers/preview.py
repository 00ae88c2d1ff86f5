"""Print rendered messages for the sample alerts: `python -m notifiers.preview`.

For the README and for checking a template change without a robot. Nothing is sent.

  python -m notifiers.preview                      # WeCom + DingTalk markdown, zh
  python -m notifiers.preview --platform feishu --msgtype post --lang en --payload
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from typing import Any, Literal, Sequence

from .build import build_notifier
from .samples import sample_alert
from .settings import NotifierDefaults

_URLS = {
    "wecom": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=PREVIEW-KEY",
    "dingtalk": "https://oapi.dingtalk.com/robot/send?access_token=PREVIEW-TOKEN",
    "feishu": "https://open.feishu.cn/open-apis/bot/v2/hook/PREVIEW-TOKEN",
}
_NAMES = {"wecom": "WeCom", "dingtalk": "DingTalk", "feishu": "Feishu"}
_KINDS: tuple[tuple[Literal["oom", "unhealthy"], str], ...] = (
    ("unhealthy", "应用不健康 / unhealthy"), ("oom", "OOMKilled"))
# 2024-05-01 14:03:05 in Asia/Shanghai: a fixed time keeps the output stable.
FIXED_NOW = datetime(2024, 5, 1, 6, 3, 5, tzinfo=timezone.utc)


def render(platform: str, *, msgtype: str | None = None, language: Literal["zh", "en"] = "zh",
           kibana_url: str = "", status: Literal["firing", "resolved"] = "firing",
           payload: bool = False) -> list[tuple[str, str]]:
    """(heading, rendered text or JSON payload) for each sample alert."""
    raw: dict[str, Any] = {
        "type": platform, "url": _URLS[platform],
        "mention": {"mobiles": {"zhangsan": "13800000000"}} if platform == "dingtalk" else {}}
    if msgtype:
        raw["msgtype"] = msgtype
    defaults = NotifierDefaults(language=language, kibana_url=kibana_url)
    notifier = build_notifier(f"preview-{platform}", raw, defaults=defaults)
    out = []
    for kind, label in _KINDS:
        message = notifier.build([sample_alert(kind, now=FIXED_NOW, status=status)]).message
        heading = f"{_NAMES[platform]} {notifier.settings.msgtype} · {label}"
        body = (json.dumps(message.payload, ensure_ascii=False, indent=2) if payload
                else message.text)
        out.append((heading, body))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m notifiers.preview", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--platform", action="append", choices=sorted(_URLS),
                   help="repeatable; default: wecom and dingtalk")
    p.add_argument("--msgtype", help="e.g. markdown, text, post, interactive")
    p.add_argument("--lang", choices=("zh", "en"), default="zh")
    p.add_argument("--kibana-url", default="", help="show the Kibana events link")
    p.add_argument("--resolved", action="store_true", help="render the 【恢复】 messages")
    p.add_argument("--payload", action="store_true", help="print the JSON body instead")
    args = p.parse_args(argv)
    for platform in args.platform or ["wecom", "dingtalk"]:
        for heading, body in render(platform, msgtype=args.msgtype, language=args.lang,
                                    kibana_url=args.kibana_url, payload=args.payload,
                                    status="resolved" if args.resolved else "firing"):
            fence = "json" if args.payload else ("markdown" if "markdown" in heading else "text")
            sys.stdout.write(f"#### {heading}\n\n```{fence}\n{body}\n```\n\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
