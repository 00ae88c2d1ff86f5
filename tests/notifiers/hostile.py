"""Values a workload can write into an alert (a container's termination message, an event's
message, annotations), built to forge a card line, a mention, a link or a heading; and what
each platform's message must show instead (spelt out here, not computed by the code tested)."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

from notifiers.samples import sample_alert
from rules.alert import Alert

NOW = datetime(2024, 5, 1, 6, 0, tzinfo=timezone.utc)
ZW = "\u200b"  # zero-width space: breaks `scheme://` and `www.` so no client links them

MESSAGE = ("x\n【恢复】容器 OOMKilled\n### 已恢复\n> 引用 [点此](http://evil.example/login) "
           '<font color="info">正常</font> <@all> <at id=all></at> @13800000000 **粗体** '
           "https://evil.example/x www.evil.example\n")

MARKDOWN = ("x 【恢复】容器 OOMKilled ＃＃＃ 已恢复 ＞ 引用 ［点此］(http:" + ZW + "//evil.example/login) "
            "＜font color=\"info\"＞正常＜/font＞ ＜＠all＞ ＜at id=all＞＜/at＞ ＠13800000000 ＊＊粗体＊＊ "
            "https:" + ZW + "//evil.example/x www" + ZW + ".evil.example")
"""MESSAGE in WeCom / DingTalk markdown and Feishu lark_md, as a card row (one line)."""

TEXT = ("x 【恢复】容器 OOMKilled ### 已恢复 > 引用 [点此](http:" + ZW + "//evil.example/login) "
        '<font color="info">正常</font> <＠all> <at id=all></at> ＠13800000000 **粗体** '
        "https:" + ZW + "//evil.example/x www" + ZW + ".evil.example")
"""MESSAGE in a plain-text message: no @mention, no link, nothing else to neutralise."""

FEISHU_TEXT = TEXT.replace("<", "＜").replace(">", "＞")
"""Feishu text messages parse `<at user_id=…>`: angle brackets go too."""


def hostile_alert() -> Alert:
    alert = sample_alert("oom", now=NOW)
    return replace(alert, fields=dict(alert.fields, message=MESSAGE),
                   object_labels={**alert.object_labels, "team": "<@all>[点此](http://evil)"},
                   object_annotations={"description": "正常\n### 【恢复】应用不健康\n> 已恢复 <@all>"})
