"""Renders per second of the built-in templates, per platform and message type.

    python bench/notify_render.py [--seconds 1.0]

Measures `Notifier.build([alert])`: template render plus byte limits plus payload, i.e. all
the CPU work of a message except signing and HTTP.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from notifiers import build_notifier  # noqa: E402
from notifiers.samples import sample_alert  # noqa: E402

TARGETS = [
    ("wecom", "markdown", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=BENCH"),
    ("wecom", "text", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=BENCH"),
    ("dingtalk", "markdown", "https://oapi.dingtalk.com/robot/send?access_token=BENCH"),
    ("feishu", "interactive", "https://open.feishu.cn/open-apis/bot/v2/hook/BENCH"),
    ("feishu", "post", "https://open.feishu.cn/open-apis/bot/v2/hook/BENCH"),
]


def rate(fn, seconds: float) -> float:
    n, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(50):
            fn()
        n += 50
    return n / elapsed


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seconds", type=float, default=1.0, help="per measurement")
    args = p.parse_args()
    alerts = {kind: sample_alert(kind) for kind in ("oom", "unhealthy")}
    digest = [sample_alert("oom")] * 1 + [sample_alert("unhealthy")] * 9
    print(f"{'platform':<10} {'msgtype':<12} {'language':<8} {'alert':<10} {'renders/s':>10}")
    for platform, msgtype, url in TARGETS:
        for language in ("zh", "en"):
            n = build_notifier("bench", {"type": platform, "url": url, "msgtype": msgtype,
                                         "language": language})
            for kind, alert in alerts.items():
                r = rate(lambda: n.build([alert]), args.seconds)
                print(f"{platform:<10} {msgtype:<12} {language:<8} {kind:<10} {r:>10,.0f}")
            r = rate(lambda: n.build(digest), args.seconds)
            print(f"{platform:<10} {msgtype:<12} {language:<8} {'digest×10':<10} {r:>10,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
