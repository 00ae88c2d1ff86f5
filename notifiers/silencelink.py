"""The one-click 静默 1 小时 link on a firing card: a signed, expiring token naming one alert's
rule and key, so whoever is in the group can silence that one alert for an hour without an API
token, and nothing else.

The token is `<payload>.<signature>`, both base64url without padding: the payload is compact
JSON `{"v": 1, "r": rule, "k": key, "x": expiry unix seconds}`, the signature HMAC-SHA256 over
a purpose prefix and the payload with `routing.silence_link_secret`. `verify` checks the
signature (constant time) before it reads anything, then the expiry. Whoever holds a valid
link can only make the silence `rule=<rule>, key=<key>` for `SILENCE_FOR`: the confirmation
page on the daemon (watcher/silences/page.py) does the rest. Pure: the time is passed in.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable
from urllib.parse import quote

from rules.alert import Alert

LINK_TTL = timedelta(hours=24)
"""How long a card's link can be used: long enough for the next morning, not forever."""
SILENCE_FOR = timedelta(hours=1)
MAX_TOKEN_CHARS = 4096
_PURPOSE = b"kea-silence-link.v1."
_VERSION = 1
_TOKEN = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


class LinkError(ValueError):
    """The token is malformed, tampered with or expired; the message never echoes it."""


@dataclass(frozen=True, slots=True)
class LinkTarget:
    """What a valid link may silence."""

    rule: str
    key: str
    expires_at: datetime
    """When the link stops working (not when the silence ends)."""


def sign(secret: str, *, rule: str, key: str, expires_at: datetime) -> str:
    payload = json.dumps({"v": _VERSION, "r": rule, "k": key, "x": int(expires_at.timestamp())},
                         ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")
    body = _b64(payload)
    return f"{body}.{_b64(_mac(secret, body))}"


def verify(secret: str, token: str, now: datetime) -> LinkTarget:
    """The target of a valid, unexpired token; LinkError otherwise."""
    if not secret:
        raise LinkError("silence links are off (no link secret configured)")
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or not _TOKEN.fullmatch(token):
        raise LinkError("malformed link")
    body, signature = token.split(".")
    try:
        given = _unb64(signature)
    except ValueError:
        raise LinkError("malformed link") from None
    if not hmac.compare_digest(given, _mac(secret, body)):
        raise LinkError("the link's signature does not match (altered, or signed with another key)")
    try:
        data = json.loads(_unb64(body))
    except ValueError:
        raise LinkError("malformed link") from None
    target = _target(data)
    if now >= target.expires_at:
        raise LinkError(f"the link expired at {target.expires_at.isoformat()}")
    return target


def _target(data: object) -> LinkTarget:
    if not isinstance(data, dict) or data.get("v") != _VERSION:
        raise LinkError("malformed link (unknown version)")
    rule, key, expiry = data.get("r"), data.get("k"), data.get("x")
    if not isinstance(rule, str) or not rule or not isinstance(key, str) or not key \
            or not isinstance(expiry, int) or isinstance(expiry, bool):
        raise LinkError("malformed link")
    try:
        expires_at = datetime.fromtimestamp(expiry, timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise LinkError("malformed link") from None
    return LinkTarget(rule=rule, key=key, expires_at=expires_at)


def _mac(secret: str, body: str) -> bytes:
    return hmac.new(secret.encode("utf-8"), _PURPOSE + body.encode("ascii"), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text.encode("ascii") + b"=" * (-len(text) % 4))
    except (binascii.Error, UnicodeEncodeError):
        raise ValueError("not base64url") from None


class SilenceLinker:
    """Makes the card's link for an alert: `<external_url>/silence?t=<token>`."""

    __slots__ = ("base_url", "_secret", "ttl", "clock")

    def __init__(self, base_url: str, secret: str, *, clock: Callable[[], datetime],
                 ttl: timedelta = LINK_TTL) -> None:
        # The URL comes from the config; its ( ) and spaces are encoded anyway, so that in a
        # markdown `[text](url)` it cannot end the link early.
        self.base_url = quote(base_url.rstrip("/"), safe=":/@%.-_~+,;=")
        self._secret, self.ttl, self.clock = secret, ttl, clock

    def url(self, alert: Alert) -> str:
        """The link for a firing alert; "" for a resolved one (nothing left to silence)."""
        if alert.status != "firing":
            return ""
        token = sign(self._secret, rule=alert.rule, key=alert.key, expires_at=self.clock() + self.ttl)
        return f"{self.base_url}/silence?t={token}"

    def __repr__(self) -> str:  # the secret stays out of every repr, log and exception
        return f"SilenceLinker({self.base_url!r})"
