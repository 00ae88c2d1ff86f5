"""Logging for the daemon: text or JSON lines, and the redaction filter on the handler.

The filter (`notifiers.redact.RedactingFilter`, the project's one redaction) sits on the handler,
so it sees every record from every library (urllib3 logs full URLs, exceptions carry them too):
it replaces the configured secret values wherever they appear, and masks the query parameters,
path parts and headers that carry credentials even when the value is not known in advance.
"""
from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import Iterable

from notifiers.redact import RedactingFilter, register_secrets


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


def setup_logging(level: str = "INFO", fmt: str = "text", secrets: Iterable[str] = (), stream=None) -> None:
    """Configure the root logger, its handler redacting every record; `secrets`: the values the
    config collected (`Config.secrets`), masked wherever they appear."""
    register_secrets(secrets)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RedactingFilter())
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
