"""Logging for the daemon: text or JSON lines, and a filter that keeps secrets out of both.

The redaction filter sits on the handler, so it sees every record from every library
(urllib3 logs full URLs, exceptions carry them too). It replaces the configured secret values
wherever they appear, and masks the query parameters and path parts that carry webhook
credentials even when the value is not known in advance.
"""
from __future__ import annotations

import json
import logging
import re
import sys
from datetime import datetime, timezone
from typing import Iterable

# WeCom `key=`, DingTalk `access_token=` / `sign=`, generic token/secret/password parameters,
# Feishu's `/bot/v2/hook/<token>`, HTTP Authorization headers.
_PATTERNS = [
    (re.compile(r"(?i)([?&](?:key|access_token|token|sign|secret|password|api_key)=)[^&\s'\"]+"), r"\1***"),
    (re.compile(r"(/hook/)[A-Za-z0-9-]+"), r"\1***"),
    (re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?(?:bearer|basic|apikey)\s+)[A-Za-z0-9._~+/=-]+"), r"\1***"),
]


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets: list[str] = []
        self.update(secrets)

    def update(self, secrets: Iterable[str]) -> None:
        # Longest first, so a URL is replaced whole before the key inside it.
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for s in self.secrets:
            if s in text:
                text = text.replace(s, "***")
        for pattern, repl in _PATTERNS:
            text = pattern.sub(repl, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redact(record.getMessage())
        record.args = None
        if record.exc_info:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("rule", "key", "status", "alert_id", "notifier"):
            if hasattr(record, key):
                out[key] = getattr(record, key)
        if record.exc_text:
            out["exception"] = record.exc_text
        return json.dumps(out, ensure_ascii=False)


def setup_logging(level: str = "INFO", fmt: str = "text", secrets: Iterable[str] = (), stream=None) -> RedactSecrets:
    """Configure the root logger; returns the redaction filter so a reload can update it."""
    handler = logging.StreamHandler(stream or sys.stderr)
    redactor = RedactSecrets(secrets)
    handler.addFilter(redactor)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # The ES transport logs every request at INFO and every failed probe during an outage;
    # kea.es logs the state changes that matter.
    logging.getLogger("elastic_transport").setLevel(max(logging.WARNING, root.level))
    return redactor
