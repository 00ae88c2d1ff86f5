"""The one place secrets are masked: webhook keys, tokens, signing secrets, passwords.

A robot's webhook URL *is* its credential (WeCom `key=`, DingTalk `access_token=`, Feishu's
hook token in the path), and `requests`/`urllib3` put the URL into exception texts and DEBUG
logs. Everything that leaves a notifier as text goes through `redact()`; `RedactingFilter` is
the same redaction as a logging filter: the daemon puts it on its log handler (every record of
every library passes it), and our loggers and urllib3's carry it too for library use. Literal
secrets (`register_secrets`: the config collects them once) are masked wherever they appear;
the patterns mask credential-shaped text whose value is not known in advance.
"""
from __future__ import annotations

import logging
import re
import threading
from typing import Iterable

MASK = "***"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Query parameters that carry credentials (WeCom key, DingTalk access_token and sign); the
    # short names only in a query (our own logs say `key=<alert key>`), the telling ones anywhere.
    (re.compile(r"(?i)([?&](?:key|token|sign)|\b(?:access_token|secret|password|api_key))=([^&\s'\"<>)]+)"),
     r"\1=" + MASK),
    # Feishu/Lark: the token is the last path segment of /open-apis/bot/v2/hook/<token>.
    (re.compile(r"(/hook/)[^/?#\s'\"<>)]+"), r"\1" + MASK),
    # user:password@host in any URL.
    (re.compile(r"(?i)\b(https?://)[^/\s:@'\"]+:[^/\s@'\"]+@"), r"\1" + MASK + "@"),
    # HTTP Authorization headers as libraries print them.
    (re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?(?:bearer|basic|apikey)\s+)[A-Za-z0-9._~+/=-]+"),
     r"\1" + MASK),
)
#: Shorter literals are not masked: masking every "ok" (or a webhook path like `/hook`, which is
#: registered in case it carries a token) would make logs unreadable, and values that short
#: protect nothing.
MIN_SECRET_LENGTH = 6

_lock = threading.Lock()
_literals: tuple[str, ...] = ()


def register_secrets(values: Iterable[str]) -> None:
    """Remember literal secret strings (signing secrets, generic webhook paths, header values)
    so `redact()` masks them wherever they appear (shorter than `MIN_SECRET_LENGTH`: ignored)."""
    global _literals
    new = {v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET_LENGTH}
    if not new:
        return
    with _lock:
        merged = set(_literals) | new
        # Longest first, so a URL is masked before a token that is part of it.
        _literals = tuple(sorted(merged, key=len, reverse=True))


def redact(text: object) -> str:
    s = str(text)
    for pattern, repl in _PATTERNS:
        s = pattern.sub(repl, s)
    for literal in _literals:
        if literal in s:
            s = s.replace(literal, MASK)
    return s


class RedactingFilter(logging.Filter):
    """Rewrites a record's message, traceback and stack with `redact()`. The traceback is
    formatted here and the exception dropped from the record, so no later formatter prints it
    unredacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not break logging
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info:
            record.exc_text = redact(record.exc_text or logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
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
