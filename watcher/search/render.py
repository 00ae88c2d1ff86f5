"""`events` output: the ops page's table (序号 · 事件级别 · 事件信息 · …) in a terminal, or JSON.

Every cell is text from the cluster, so it is made one line and stripped of control characters
(an Event message can hold terminal escape sequences). Column widths count East Asian wide
characters as two, so the Chinese headers line up.
"""
from __future__ import annotations

import json
import unicodedata
from datetime import datetime
from typing import Any, Callable, Iterable, Mapping
from zoneinfo import ZoneInfo

LEVELS = {"Warning": "警告", "Normal": "正常"}
MAX_CELL = 60


def _local(value: Any, tz: ZoneInfo) -> str:
    if not value:
        return ""
    try:
        return datetime.fromisoformat(str(value)).astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return clean(value)


def _object(doc: Mapping[str, Any]) -> str:
    where = "/".join(clean(v) for v in (doc.get("namespace"), doc.get("name")) if v)
    return f"{clean(doc.get('kind'))} {where}".strip()


def _event_row(doc: Mapping[str, Any], tz: ZoneInfo) -> list[str]:
    level = LEVELS.get(str(doc.get("type")), clean(doc.get("type")))
    info = f"{_object(doc)}: {clean(doc.get('message'))}"
    return [level, info, clean(doc.get("reason")), clean(doc.get("reporting_component")), clean(doc.get("node")),
            _local(doc.get("last_timestamp") or doc.get("@timestamp"), tz)]


def _endpoint_row(doc: Mapping[str, Any], tz: ZoneInfo) -> list[str]:
    return [_local(doc.get("@timestamp"), tz), clean(doc.get("namespace")), clean(doc.get("service")),
            clean(doc.get("change")), f"{doc.get('ready', '?')}/{doc.get('total', '?')}",
            "是" if doc.get("healthy") else "否"]


def _termination_row(doc: Mapping[str, Any], tz: ZoneInfo) -> list[str]:
    return [_local(doc.get("finished_at") or doc.get("@timestamp"), tz), clean(doc.get("namespace")),
            clean(doc.get("pod")), clean(doc.get("container")), clean(doc.get("reason")),
            clean(doc.get("exit_code")), clean(doc.get("node"))]


COLUMNS: dict[str, tuple[tuple[str, ...], Callable[[Mapping[str, Any], ZoneInfo], list[str]]]] = {
    "events": (("事件级别", "事件信息", "事件原因", "汇报者", "来源机器", "最后出现时间"), _event_row),
    "endpoints": (("时间", "项目", "服务", "变化", "就绪/总数", "健康"), _endpoint_row),
    "terminations": (("结束时间", "项目", "实例", "容器", "原因", "退出码", "节点"), _termination_row),
}


def table(kind: str, docs: Iterable[Mapping[str, Any]], tz: ZoneInfo) -> str:
    """序号, the kind's columns, and 详情: the id to pass to `--detail`."""
    headers, row_of = COLUMNS[kind]
    rows = [[str(i), *(_cut(c) for c in row_of(doc, tz)), clean(doc.get("_id"))] for i, doc in enumerate(docs, 1)]
    head = ["序号", *headers, "详情"]
    widths = [max(width(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(_pad(cell, w) for cell, w in zip(r, widths)).rstrip() for r in [head, *rows]]
    return "\n".join(lines)


def json_lines(docs: Iterable[Mapping[str, Any]]) -> str:
    return "\n".join(json.dumps(dict(d), ensure_ascii=False, sort_keys=True) for d in docs)


def detail(doc: Mapping[str, Any]) -> str:
    return json.dumps(dict(doc), ensure_ascii=False, sort_keys=True, indent=2)


def clean(value: Any) -> str:
    """One line, without control characters."""
    if value is None:
        return ""
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in str(value))
    return " ".join(text.split())


def width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _cut(text: str, limit: int = MAX_CELL) -> str:
    if width(text) <= limit:
        return text
    out, used = [], 0
    for ch in text:
        used += width(ch)
        if used > limit - 1:
            break
        out.append(ch)
    return "".join(out) + "…"


def _pad(text: str, to: int) -> str:
    return text + " " * (to - width(text))
