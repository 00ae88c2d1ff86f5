"""The cards inhibition shapes: the endpoints card names the OOM that caused the drop (one card
per outage), and a source's card says how many alerts it kept quiet."""
from __future__ import annotations

from dataclasses import replace
from zoneinfo import ZoneInfo

from notifiers.card import rows, title
from tests.inhibit.helpers import node_not_ready, unhealthy

TZ = ZoneInfo("Asia/Shanghai")


def _values(alert, language="zh") -> dict[str, str]:
    return {r["label"]: r["value"] for r in rows(alert, language, TZ)}


def test_the_endpoints_card_is_the_one_the_ops_team_knows() -> None:
    alert = unhealthy()
    shown = _values(alert)
    assert title(alert, "zh") == "【告警】应用不健康"
    assert shown["不健康实例数 / 总实例数"] == "1 / 2"
    assert shown["容器退出"].startswith("ExitCode 137 OOMKilled")
    assert "web-1" in shown["容器退出"]


def test_a_source_card_names_how_many_it_inhibited() -> None:
    alert = replace(node_not_ready(), fields={**node_not_ready().fields, "inhibited": 3})
    assert _values(alert)["已抑制"] == "3 条相关告警"
    assert _values(alert, "en")["Inhibited"] == "3 related alerts"


def test_no_inhibited_line_when_nothing_was_inhibited() -> None:
    for value in (0, None, "3", True):
        alert = replace(node_not_ready(), fields={**node_not_ready().fields, "inhibited": value})
        assert "已抑制" not in _values(alert)
