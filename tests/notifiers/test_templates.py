"""Templates: the built-in Chinese/English cards, the sandbox, override precedence."""
from __future__ import annotations

import tracemalloc
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from notifiers import build_notifier, check_template
from notifiers.samples import sample_alert
from tests.notifiers.conftest import WECOM_KEY

URL = f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={WECOM_KEY}"
NOW = datetime(2024, 5, 1, 6, 3, 5, tzinfo=timezone.utc)  # 14:03:05 in Shanghai


def _render(alert: Any, name: str = "ops", **raw: Any) -> str:
    n = build_notifier(name, {"type": "wecom", "url": URL, **raw})
    return n.renderer.render(alert)


def test_oom_card_in_chinese() -> None:
    text = _render(sample_alert("oom", now=NOW))
    for part in ("【告警】容器 OOMKilled", "应用名", "order-api", "所属项目", "shop (集群 prod-sh)",
                 "节点 ip", "10.0.3.17", "容器退出", "ExitCode 137 OOMKilled", "重启次数",
                 "内存限制", "512Mi", "2024-05-01 14:03:05"):
        assert part in text, part


def test_unhealthy_card_in_chinese() -> None:
    text = _render(sample_alert("unhealthy", now=NOW))
    for part in ("【告警】应用不健康", "不健康实例数 / 总实例数", "1 / 2", "节点 ip",
                 "ExitCode 137 OOMKilled"):
        assert part in text, part


def test_unhealthy_card_shows_node_ip_beside_node_name() -> None:
    alert = sample_alert("unhealthy", now=NOW)
    alert = replace(alert, fields={**alert.fields, "nodes": ["node-7"], "node_ips": {"node-7": "10.0.7.7"}})
    assert "10.0.7.7 (node-7)" in _render(alert)


def test_resolved_card_shows_start_and_duration() -> None:
    text = _render(sample_alert("oom", now=NOW, status="resolved"))
    assert "【恢复】容器 OOMKilled" in text and "持续时间" in text and "12分" in text


def test_english_set_is_selectable() -> None:
    text = _render(sample_alert("unhealthy", now=NOW), language="en")
    assert "[ALERT] Application unhealthy" in text and "Unhealthy / total instances" in text


def test_time_is_shown_in_the_configured_zone() -> None:
    assert "2024-05-01 06:03:05" in _render(sample_alert("oom", now=NOW), timezone="UTC")


def test_kibana_link_only_when_configured() -> None:
    alert = sample_alert("oom", now=NOW)
    assert "kibana" not in _render(alert).lower()
    text = _render(alert, kibana_url="https://kibana.example.com/")
    assert "](https://kibana.example.com/app/discover#/" in text and "order-api" in text


def test_event_alert_card() -> None:
    base = sample_alert("oom", now=NOW)
    alert = replace(base, rule="warning-events", kind="Event", fields={
        "reason": "BackOff", "type": "Warning", "message": "Back-off restarting failed container",
        "count": 7, "involved_kind": "Pod", "involved_name": "web-1", "component": "kubelet",
        "host": "10.0.3.17"})
    text = _render(alert)
    assert "【告警】事件 BackOff" in text and "Back-off restarting" in text and "Pod/web-1" in text


def test_missing_fields_are_tolerated() -> None:
    alert = replace(sample_alert("oom", now=NOW), rule="custom", kind="Pod", fields={},
                    summary="something happened")
    text = _render(alert, template="{{ fields.nope.deeper }}|{{ title }}|{{ alert.fields.x }}")
    assert text == "|【告警】something happened|"


def test_sandbox_exposes_no_internals() -> None:
    text = _render(sample_alert("oom"), template="x{{ alert.__class__ }}{{ ''.__class__.__mro__ }}"
                   "{{ rows.__class__.__subclasses__ }}y")
    assert text == "xy"


def test_rule_override_by_name_beats_type_beats_setting() -> None:
    alert = replace(sample_alert("oom"), templates={"ops": "by-name", "wecom": "by-type"})
    assert _render(alert, template="by-setting") == "by-name"
    assert _render(replace(alert, templates={"wecom": "by-type"}), template="s") == "by-type"
    assert _render(sample_alert("oom"), template="by-setting") == "by-setting"


def test_broken_override_falls_back_to_the_builtin_and_logs(caplog: pytest.LogCaptureFixture
                                                            ) -> None:
    alert = replace(sample_alert("oom"), templates={"ops": "{{ 1 / 0 }}"})
    assert "【告警】容器 OOMKilled" in _render(alert)
    assert any("template override" in r.getMessage() and r.levelname == "ERROR"
               for r in caplog.records)


def test_check_template_reports_the_line() -> None:
    assert check_template("{{ title }}") is None
    assert (check_template("a\nb\n{% for %}") or "").startswith("line 3:")


_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                       lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["pod", "node", "host_ip", "exit_code", "reason",
                                        "restarts", "memory_limit", "total", "unhealthy",
                                        "unhealthy_addresses", "nodes", "cause", "message",
                                        "service", "count"]), _values),
       st.sampled_from(["oom", "unhealthy"]))
def test_any_field_values_render_a_titled_card(fields: dict, kind: str) -> None:
    alert = replace(sample_alert(kind, now=NOW), fields=fields)  # type: ignore[arg-type]
    assert _render(alert).startswith("### <font")


def test_folded_repeats_are_counted_on_the_card() -> None:
    assert "累计次数" not in _render(sample_alert("oom", now=NOW))
    assert "累计次数：<font color=\"comment\">4</font>" in _render(
        replace(sample_alert("oom", now=NOW), count=4))


# -- values from the cluster are escaped where they enter a template (issue "edges", 9.2) -------
def test_a_rule_template_gets_every_cluster_value_escaped() -> None:
    alert = replace(sample_alert("oom", now=NOW), object_labels={"owner": "zhangsan"},
                    object_annotations={"note": "a\n# b", "x<y": "[c](http://d)"},
                    description="<font color=\"info\">ok</font>",
                    fields={"message": "@all **m**", "nested": {"list": ["`e`", 7, None]}})
    text = _render(alert, template=(
        "{% for k, v in annotations.items() %}{{ k }}={{ v }};{% endfor %}"
        "|{{ alert.description }}|{{ fields.message | upper }}|{{ fields.nested.list }}"
        "|{{ fields.message ~ '**' }}"))
    assert text == ("note=a ＃ b;x＜y=［c］(http:\u200b//d);|＜font color=\"info\"＞ok＜/font＞"
                    "|＠ALL ＊＊M＊＊|['｀e｀', 7, None]|＠all ＊＊m＊＊**")


def test_an_event_reason_in_the_title_is_escaped_in_the_body_only() -> None:
    base = sample_alert("oom", now=NOW)
    alert = replace(base, rule="warning-events", kind="Event",
                    fields={"reason": "BackOff <@all> [x](http://e)", "message": "m"})
    n = build_notifier("ops", {"type": "wecom", "url": URL})
    text = n.build([alert]).message.text
    assert text.startswith('### <font color="warning">【告警】事件 BackOff ＜＠all＞ ［x］(http:\u200b//e)'
                           '</font>\n')
    assert n.renderer.title(alert) == "【告警】事件 BackOff <@all> [x](http://e)"  # plain fields


def test_only_config_links_stay_links() -> None:
    alert = sample_alert("oom", now=NOW)
    alert = replace(alert, fields=dict(alert.fields, message="[点此](http://evil.example)"))
    text = _render(alert, kibana_url="https://kibana.example.com")
    assert text.count("](") == 1 and "](https://kibana.example.com/app/discover#/" in text


# -- caps on what a template may build (issue "edges", item 12) ---------------------------------
@pytest.mark.parametrize("source,line", [
    ("{{ 'x' * 400000000 }}", 1),
    ("a\n{{ 'x' * 1000 * 1000 * 100 }}", 2),
    ("{{ fields.message | center(400000000) }}", 1),
    ("{{ '%0400000000d' % 1 }}", 1),
    ("{{ [0] * 10000000 }}", 1),
    ("{% for i in range(10000000) %}{% endfor %}", 1),
])
def test_lint_rejects_constants_over_a_cap_without_building_them(source: str, line: int) -> None:
    tracemalloc.start()
    try:
        problem = check_template(source)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (problem or "").startswith(f"line {line}:") and "limit" in (problem or ""), problem
    assert peak < 20_000_000, f"lint allocated {peak} bytes"


def test_lint_accepts_ordinary_loops_and_filters() -> None:
    assert check_template("{% for i in range(6000) %}告\n{% endfor %}") is None
    assert check_template("{{ fields.message | truncate(200) | center(80) }}{{ 2 ** 10 }}"
                          "{{ rows | map(attribute='value') | join(', ') }}") is None


_LIMIT_BREAKERS = {
    "repetition": "{{ 'x' * fields.n }}",
    "list repetition": "{{ ([0] * fields.k * fields.k) | length }}",
    "nested loops": "{% for i in range(fields.k) %}{% for j in range(fields.k) %}{% endfor %}"
                    "{% endfor %}",
    "output": "{% for i in range(fields.k) %}{{ fields.message }}{% endfor %}",
    "doubling with ~": "{% set ns = namespace(s='x') %}{% for i in range(fields.d) %}"
                       "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}",
    "doubling macro": "{% macro d(n) %}{% if n %}{{ d(n - 1) }}{{ d(n - 1) }}{% endif %}x"
                      "{% endmacro %}{{ d(fields.d) | length }}",
    "filter width": "{{ title | center(fields.n) }}",
    "format width": "{{ ('%0' ~ fields.n ~ 'd') | format(1) }}",
}


@pytest.mark.parametrize("source", _LIMIT_BREAKERS.values(), ids=_LIMIT_BREAKERS.keys())
def test_a_template_over_a_cap_falls_back_to_the_builtin_card(
        source: str, caplog: pytest.LogCaptureFixture) -> None:
    alert = sample_alert("oom", now=NOW)
    alert = replace(alert, fields=dict(alert.fields, n=400_000_000, k=10_000, d=28,
                                       message="m" * 1000), templates={"ops": source})
    assert check_template(source) is None  # nothing to see before it runs
    text = _render(alert)
    assert text.startswith('### <font color="warning">【告警】容器 OOMKilled</font>'), text[:200]
    assert any("template override" in r.getMessage() and "TemplateLimitError" in r.getMessage()
               for r in caplog.records)


def test_the_alert_still_goes_out_when_a_template_blows_a_cap(wecom_rx: Any,
                                                              make_notifier: Any) -> None:
    alert = replace(sample_alert("oom"), fields=dict(sample_alert("oom").fields, n=10**9))
    n = make_notifier("wecom", wecom_rx.base, template="{{ 'x' * fields.n }}")
    assert n.send_now(alert).ok
    assert wecom_rx.texts()[0].startswith('### <font color="warning">【告警】容器 OOMKilled')


def test_a_name_cannot_close_the_kibana_link_early() -> None:
    alert = replace(sample_alert("oom", now=NOW), workload_name="a) [x")
    text = _render(alert, kibana_url="https://kibana.example.com")
    line = next(x for x in text.split("\n") if "kibana.example.com" in x)
    link = line.split("](", 1)[1]
    assert link.count(")") == link.count("(") + 1 and link.endswith(")"), link
    assert "[" not in link and " " not in link
