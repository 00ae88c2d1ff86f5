"""The receivers themselves enforce the platform rules, so the other tests have teeth: a
client that ignored a rule would be refused exactly as the platform refuses it."""
from __future__ import annotations

from typing import Any

import requests

from tests.notifiers.conftest import DING_SECRET, DING_TOKEN, KEYWORD, WECOM_KEY
from notifiers.dingtalk import sign


def _wecom(rx: Any, content: str, msgtype: str = "markdown") -> int:
    r = requests.post(f"{rx.base}/cgi-bin/webhook/send?key={WECOM_KEY}",
                      json={"msgtype": msgtype, msgtype: {"content": content}}, timeout=5)
    return r.json()["errcode"]


def _ding(rx: Any, clock: Any, *, url_suffix: str = "", text: str = KEYWORD) -> int:
    ts = int(clock.now().timestamp() * 1000)
    url = f"{rx.base}/robot/send?access_token={DING_TOKEN}&timestamp={ts}&sign=" \
          f"{sign(ts, DING_SECRET)}{url_suffix}"
    r = requests.post(url, json={"msgtype": "text", "text": {"content": text}}, timeout=5)
    return r.json()["errcode"]


def test_wecom_refuses_the_21st_message_in_a_minute(wecom_rx: Any, clock: Any) -> None:
    codes = [_wecom(wecom_rx, "告警") for _ in range(21)]
    assert codes == [0] * 20 + [45009]
    clock.advance(60)
    assert _wecom(wecom_rx, "告警") == 0


def test_wecom_refuses_markdown_over_4096_bytes(wecom_rx: Any) -> None:
    assert _wecom(wecom_rx, "a" * 4096) == 0
    assert _wecom(wecom_rx, "a" * 4097) == 40058
    assert _wecom(wecom_rx, "a" * 2049, msgtype="text") == 40058


def test_dingtalk_blocks_the_robot_after_the_21st(ding_rx: Any, clock: Any) -> None:
    assert [_ding(ding_rx, clock) for _ in range(21)] == [0] * 20 + [130101]
    clock.advance(300)
    assert _ding(ding_rx, clock) == 130101  # still blocked: ~10 minutes
    clock.advance(301)
    assert _ding(ding_rx, clock) == 0


def test_dingtalk_refuses_a_sign_appended_twice(ding_rx: Any, clock: Any) -> None:
    assert _ding(ding_rx, clock, url_suffix="&timestamp=1&sign=x") == 310000


def test_dingtalk_refuses_a_message_without_keyword(ding_rx: Any, clock: Any) -> None:
    assert _ding(ding_rx, clock, text="no keyword here") == 310000
