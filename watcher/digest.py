"""The daily digest: the alert history's counts as an alert any robot can render."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from rules.alert import Alert

#: Rendered for the daily digest on every platform (a template override, like a rule's).
DIGEST_TEMPLATE = (
    "【日报】{{ alert.cluster }} 告警汇总 / daily digest\n"
    "新告警 {{ fields.incidents }} · 已恢复 {{ fields.resolved }} · 发送失败 {{ fields.failed_deliveries }}\n"
    "{% for rule, n in fields.by_rule.items() %}- {{ rule }}: {{ n }}\n{% endfor %}"
    "{% if fields.by_namespace %}项目: {% for ns, n in fields.by_namespace.items() %}{{ ns }} {{ n }}  {% endfor %}\n{% endif %}"
    "Warning 事件 {{ fields.warning_events }}{% for r in fields.top_warning_reasons %} · {{ r.reason }} {{ r.count }}{% endfor %}\n"
)


def digest_alert(cluster: str, summary: dict[str, Any], now: datetime) -> Alert:
    """The daily digest as an alert the notifiers can render (with a template override)."""
    templates = {platform: DIGEST_TEMPLATE for platform in ("wecom", "dingtalk", "feishu", "webhook")}
    return Alert(rule="kea-daily-digest", key=now.strftime("%Y-%m-%d"), status="firing", severity="info",
                 sequence=1, started_at=now, at=now, count=summary.get("incidents", 0), cluster=cluster,
                 namespace="", kind="Digest", name="daily", workload_kind="", workload_name="",
                 summary=f"{summary.get('incidents', 0)} new alerts in the last 24h", fields=summary,
                 templates=templates, incident=now.strftime("%Y%m%d"))
