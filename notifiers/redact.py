"""Keep webhook keys, tokens and signing secrets out of logs, exceptions and outcomes.

A robot's webhook URL *is* its credential (WeCom `key=`, DingTalk `access_token=`, Feishu's
hook token in the path), and `requests`/`urllib3` put the URL into exception texts and DEBUG
logs. Everything that leaves a notifier as text goes through `redact()`; a logging filter on
`urllib3` and on our loggers is the safety net for what we do not format ourselves.
"""
from __future__ import annotations

import logging
import re
import threading
from typing import Iterable

MASK = "***"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Query parameters that carry credentials (WeCom key, DingTalk access_token and sign).
    (re.compile(r"(?i)\b(key|access_token|token|sign|secret|password|api_key)=([^&\s'\"<>)]+)"),
     r"\1=" + MASK),
    # Feishu/Lark: the token is the last path segment of /open-apis/bot/v2/hook/<token>.
    (re.compile(r"(/bot/v2/hook/)[^/?#\s'\"<>)]+"), r"\1" + MASK),
    # user:password@host in any URL.
    (re.compile(r"(?i)\b(https?://)[^/\s:@'\"]+:[^/\s@'\"]+@"), r"\1" + MASK + "@"),
)

_lock = threading.Lock()
_literals: tuple[str, ...] = ()


def register_secrets(values: Iterable[str]) -> None:
    """Remember literal secret strings (signing secrets, generic webhook paths, header values)
    so `redact()` masks them wherever they appear. Values shorter than 6 chars are ignored:
    masking every "ok" would make logs unreadable and such values protect nothing."""
    global _literals
    new = {v for v in values if isinstance(v, str) and len(v) >= 6}
    if not new:
        return
    with _lock:
        merged = set(_literals) | new
        # Longest first, so a URL is masked before a token that is part of it.
        _literals = tuple(sorted(merged, key=len, reverse=True))


def redact(text: object) -> str:
    s = str(text)
    for literal in _literals:
        if literal in s:
            s = s.replace(literal, MASK)
    for pattern, repl in _PATTERNS:
        s = pattern.sub(repl, s)
    return s


class RedactingFilter(logging.Filter):
    """Rewrites a record's message (and cached traceback text) with `redact()`."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not break logging
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_FILTER = RedactingFilter()
# urllib3 logs "POST /cgi-bin/webhook/send?key=... HTTP/1.1" at DEBUG.
_THIRD_PARTY = ("urllib3.connectionpool", "urllib3.util.retry", "requests")


def protect_logger(name: str) -> logging.Logger:
    """Return the named logger with the redacting filter installed (idempotent)."""
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger


def protect_third_party_loggers() -> None:
    for name in _THIRD_PARTY:
        protect_logger(name)
