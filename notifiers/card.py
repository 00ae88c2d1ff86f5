"""The alert card's content: title and labelled rows, in Chinese or English.

Modelled on the ops team's alert card (【告警】应用不健康 · 应用名 · 所属项目 · 不健康实例数 /
总实例数 · 节点 ip · 容器退出 ExitCode 137 OOMKilled · 时间). Which rows an alert gets is decided
here, in Python, where it is tested; the Jinja templates only lay the rows out for each
platform's markup. Any field may be missing: a row without a value is left out.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal, Mapping
from zoneinfo import ZoneInfo

from rules.alert import Alert

AlertKind = Literal["oom", "unhealthy", "event", "other"]

_TITLES = {
    "zh": {"firing": "【告警】", "resolved": "【恢复】", "oom": "容器 OOMKilled",
           "unhealthy": "应用不健康", "event": "事件 {reason}"},
    "en": {"firing": "[ALERT] ", "resolved": "[RESOLVED] ", "oom": "Container OOMKilled",
           "unhealthy": "Application unhealthy", "event": "Event {reason}"},
}
_LABELS = {
    "zh": {"app": "应用名", "project": "所属项目", "ratio": "不健康实例数 / 总实例数",
           "instances": "异常实例", "pod": "实例", "node": "节点 ip", "exit": "容器退出",
           "restarts": "重启次数", "memory": "内存限制", "event": "事件", "object": "对象",
           "count": "次数", "source": "来源", "detail": "详情", "time": "时间",
           "started": "开始时间", "duration": "持续时间", "kibana": "事件记录",
           "kibana_text": "在 Kibana 中查看", "container": "容器", "cluster": "集群",
           "more": "等 {n} 个", "repeats": "累计次数", "inhibited": "已抑制",
           "inhibited_text": "{n} 条相关告警", "silence": "静默", "silence_text": "静默 1 小时"},
    "en": {"app": "Application", "project": "Project", "ratio": "Unhealthy / total instances",
           "instances": "Unhealthy instances", "pod": "Instance", "node": "Node IP",
           "exit": "Container exit", "restarts": "Restarts", "memory": "Memory limit",
           "event": "Event", "object": "Object", "count": "Count", "source": "Source",
           "detail": "Detail", "time": "Time", "started": "Started", "duration": "Duration",
           "kibana": "Events", "kibana_text": "Open in Kibana", "container": "container",
           "cluster": "cluster", "more": "and {n} more", "repeats": "Occurrences",
           "inhibited": "Inhibited", "inhibited_text": "{n} related alerts", "silence": "Silence",
           "silence_text": "Silence for 1 hour"},
}
_DIGEST = {
    "zh": ("【汇总】{n} 条通知（{firing} 条告警，{resolved} 条恢复），因机器人发送频率限制合并发送",
           "；另有 {remaining} 条稍后发送"),
    "en": ("[DIGEST] {n} notifications ({firing} firing, {resolved} resolved) merged to respect "
           "the robot's rate limit", "; {remaining} more follow"),
}
TRUNCATION_MARKER = {"zh": "\n…（内容过长，已截断）", "en": "\n… (truncated)"}
_MAX_LISTED = 5


def alert_kind(alert: Alert) -> AlertKind:
    """Which card: from the detector that decided the alert; otherwise from its fields (an `any`
    rule about OOMKilled pods), or, for alerts made by hand or stored by an older version, the
    built-in rule names."""
    by_detector: dict[str, AlertKind] = {"oom_killed": "oom", "endpoints_unhealthy": "unhealthy"}
    if alert.detector in by_detector:
        return by_detector[alert.detector]
    f, by_hand = alert.fields, not alert.detector
    if (by_hand and alert.rule == "oom-killed") or (alert.kind == "Pod" and f.get("reason") == "OOMKilled"):
        return "oom"
    if (by_hand and alert.rule == "endpoints-unhealthy") or ("unhealthy" in f and "total" in f):
        return "unhealthy"
    if alert.kind == "Event":
        return "event"
    return "other"


def title(alert: Alert, language: str) -> str:
    return "".join(title_parts(alert, language))


def title_parts(alert: Alert, language: str) -> tuple[str, str]:
    """(our status prefix, the subject): the subject may carry text from the cluster (an
    event's reason, a summary), the prefix never does."""
    t = _TITLES[language]
    kind = alert_kind(alert)
    if alert.title:  # the rule's own title (rule-pack rules carry one)
        subject = _one_line(alert.title)
    elif kind in ("oom", "unhealthy"):
        subject = t[kind]
    elif kind == "event" and alert.fields.get("reason"):
        subject = t["event"].format(reason=_one_line(alert.fields["reason"]))
    else:
        subject = _one_line(alert.summary or alert.description or alert.rule)
    return t[alert.status], subject


def digest_header(language: str, *, count: int, firing: int, resolved: int,
                  remaining: int) -> str:
    head, more = _DIGEST[language]
    text = head.format(n=count, firing=firing, resolved=resolved)
    return text + (more.format(remaining=remaining) if remaining else "")


def local_time(value: datetime | None, tz: ZoneInfo) -> str:
    if value is None:
        return ""
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


def duration(delta: timedelta, language: str) -> str:
    seconds = max(0, int(delta.total_seconds()))
    d, rem = divmod(seconds, 86400)
    h, rem = divmod(rem, 3600)
    m, s = divmod(rem, 60)
    units = ("天", "小时", "分", "秒") if language == "zh" else ("d", "h", "m", "s")
    parts = [f"{v}{u}" for v, u in zip((d, h, m, s), units) if v]
    return "".join(parts[:2]) or f"0{units[3]}"


class _Rows:
    """Collects a card's rows; a row whose values are all empty is left out."""

    def __init__(self, labels: Mapping[str, str]) -> None:
        self.L = labels
        self.out: list[dict[str, str]] = []

    def add(self, key: str, *values: Any) -> None:
        text = " ".join(_one_line(v) for v in values if _present(v))
        if text:
            self.out.append({"label": self.L[key], "value": text, "link": ""})


def rows(alert: Alert, language: str, tz: ZoneInfo,
         kibana_link: str = "", silence_link: str = "") -> list[dict[str, str]]:
    """The card's rows as {label, value, link}; `link` is set only for the Kibana row and the
    silence row (a firing card's signed 静默 1 小时 link, notifiers/silencelink.py)."""
    L = _LABELS[language]
    r = _Rows(L)
    r.add("app", alert.workload_name or alert.fields.get("service") or alert.name)
    cluster = _paren(f"{L['cluster']} {alert.cluster}") if alert.cluster else None
    r.add("project", alert.namespace, cluster)
    _KIND_ROWS[alert_kind(alert)](r, alert)
    inhibited = alert.fields.get("inhibited")
    if isinstance(inhibited, int) and not isinstance(inhibited, bool) and inhibited > 0:
        # set by the dispatcher on an inhibition source (a NotReady node): what it kept quiet
        r.add("inhibited", L["inhibited_text"].format(n=inhibited))
    if alert.count > 1:
        # A crash-looping container OOMs every few minutes: repeats are folded into one
        # incident and counted, instead of one message each.
        r.add("repeats", alert.count)
    r.add("time", local_time(alert.at, tz))
    if alert.status == "resolved":
        r.add("started", local_time(alert.started_at, tz))
        r.add("duration", duration(alert.at - alert.started_at, language))
    if kibana_link:
        r.out.append({"label": L["kibana"], "value": L["kibana_text"], "link": kibana_link})
    if silence_link and alert.status == "firing":
        r.out.append({"label": L["silence"], "value": L["silence_text"], "link": silence_link})
    return r.out


def _oom_rows(r: _Rows, alert: Alert) -> None:
    f = alert.fields
    r.add("pod", f.get("pod") or alert.name, _paren(f.get("pod_ip")))
    host_ip, node = f.get("host_ip"), f.get("node")
    r.add("node", host_ip or node, _paren(node) if host_ip and node != host_ip else None)
    r.add("exit", _exit(f, r.L))
    r.add("restarts", f.get("restarts"))
    r.add("memory", f.get("memory_limit"))
    r.add("detail", f.get("message"))


def _unhealthy_rows(r: _Rows, alert: Alert) -> None:
    f = alert.fields
    if _present(f.get("total")):
        r.add("ratio", f"{_int_or(f.get('unhealthy'), f.get('not_ready'))} / {f.get('total')}")
    r.add("instances", _addresses(f.get("unhealthy_addresses"), r.L))
    raw_cause, raw_ips = f.get("cause"), f.get("node_ips")
    cause: Mapping[str, Any] = raw_cause if isinstance(raw_cause, Mapping) else {}
    ips: Mapping[str, Any] = raw_ips if isinstance(raw_ips, Mapping) else {}
    nodes = f.get("nodes")
    if isinstance(nodes, (list, tuple)):  # any field may hold anything: rule authors' data
        nodes = [f"{ips[n]} ({n})" if isinstance(n, str) and n in ips else n for n in nodes]
    r.add("node", _listed(nodes, r.L) or cause.get("node"))
    if cause:
        r.add("exit", _exit(cause, r.L, with_pod=True))


def _event_rows(r: _Rows, alert: Alert) -> None:
    f = alert.fields
    r.add("event", f.get("reason"), _paren(f.get("type")))
    involved = (f.get("involved_kind"), f.get("involved_name"))
    r.add("object", "/".join(_one_line(v) for v in involved if _present(v)))
    r.add("count", f.get("count"))
    r.add("source", f.get("component"), f.get("host"))
    r.add("detail", f.get("message"))


def _other_rows(r: _Rows, alert: Alert) -> None:
    r.add("detail", alert.description or alert.fields.get("message"))


_KIND_ROWS = {"oom": _oom_rows, "unhealthy": _unhealthy_rows, "event": _event_rows, "other": _other_rows}


def _exit(f: Mapping[str, Any], L: Mapping[str, str], *, with_pod: bool = False) -> str:
    code = f.get("exit_code")
    parts = [f"ExitCode {code}" if _present(code) else "", _one_line(f.get("reason") or "")]
    text = " ".join(p for p in parts if p)
    where = "/".join(_one_line(v) for v in (f.get("pod") if with_pod else None, f.get("container"))
                     if _present(v))
    if text and where:
        text += f" ({L['container']} {where})"
    return text


def _addresses(addresses: Any, L: Mapping[str, str]) -> str:
    if not isinstance(addresses, (list, tuple)):
        return ""
    items = []
    for a in addresses:
        if isinstance(a, Mapping):
            name = a.get("pod") or a.get("ip")
            ip = a.get("ip") if a.get("pod") else None
            items.append(" ".join(_one_line(v) for v in (name, _paren(ip)) if _present(v)))
    return _listed(items, L)


def _listed(values: Any, L: Mapping[str, str]) -> str:
    if not isinstance(values, (list, tuple)):
        return _one_line(values) if _present(values) else ""
    items = [_one_line(v) for v in values if _present(v)]
    text = ", ".join(items[:_MAX_LISTED])
    if len(items) > _MAX_LISTED:
        text += " " + L["more"].format(n=len(items))
    return text


def _int_or(*values: Any) -> Any:
    for v in values:
        if _present(v):
            return v
    return "?"


def _paren(value: Any) -> str | None:
    return f"({_one_line(value)})" if _present(value) else None


def _present(value: Any) -> bool:
    return value is not None and value != "" and value != [] and value != {}


def _one_line(value: Any) -> str:
    return " ".join(str(value).split())
