"""Generic webhook: POST the alerts as JSON (or a rendered template) to any HTTP endpoint.

Body without a template (msgtype `json`):
    {"version": "1", "notifier": NAME, "alerts": [Alert.to_dict(), ...]}
Several queued alerts go in one body (up to `max_batch` / `max_bytes`). With a template (the
`template` setting or a rule override for this notifier or for `webhook`), each alert is sent
alone and the rendered text is the body, with `Content-Type` from `headers` (default JSON).

Headers on every request:
    X-KEA-Idempotency-Key  sha256 of the alert ids in the body: the same alerts always get
                           the same key, so a receiver can drop a resend after a crash
    X-KEA-Timestamp        epoch seconds (only with `hmac_secret`)
    X-KEA-Signature        "sha256=" + hex HMAC-SHA256(hmac_secret, timestamp + "." + body)
A 2xx status is success; 408, 429 and 5xx are retried; other statuses are permanent.
"""
from __future__ import annotations

import hashlib
import hmac
from typing import Any, Mapping, Sequence
from urllib.parse import urlsplit

import orjson

from rules.alert import Alert

from .compose import Message
from .markup import Flavour
from .mentions import Mentions
from .platform import DeliveryResult, Platform
from .settings import PlatformSpec

SPEC = PlatformSpec(
    type="webhook",
    msgtypes=("json",),
    max_bytes={"json": (262_144, 1_048_576)},
    rate_per_minute=600, max_rate_per_minute=6000, burst=10,
    throttle_pause_seconds=60.0, min_throttle_pause_seconds=1.0,
    extra_keys=frozenset({"headers", "hmac_secret"}),
)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class WebhookPlatform(Platform):
    platform = "webhook"
    spec = SPEC
    carries_alerts = True  # compose.py batches the alerts as JSON documents (or renders a template)

    def markup(self) -> Flavour:
        # A template renders the whole body: in a JSON body a value must stay inside its
        # string; any other body is treated as text (no mentions, no links).
        content_type = next((v for k, v in self.settings.headers.items()
                             if k.lower() == "content-type"), "application/json")
        return "json" if "json" in content_type.lower() else "text"

    def template_name(self) -> str:
        return "webhook_text"  # only used when a template override fails

    def secrets(self) -> list[str]:
        parts = urlsplit(self.settings.url)
        # Any part of a generic URL may be the credential (/hooks/<token>).
        return [*super().secrets(), parts.path + (f"?{parts.query}" if parts.query else "")]

    def payload(self, *, title: str, text: str, mentions: Mentions, alerts: Sequence[Alert],
                body_title: str = "") -> dict[str, Any]:
        return {"version": "1", "notifier": self.name, "alerts": [_document(a) for a in alerts]}

    def prepare(self, message: Message) -> tuple[str, dict[str, str], bytes]:
        body = message.payload if isinstance(message.payload, bytes) else orjson.dumps(
            message.payload)
        headers = {**self.json_headers(), **self.settings.headers}
        headers["X-KEA-Idempotency-Key"] = hashlib.sha256(
            "\n".join(sorted(message.alert_ids)).encode("utf-8")).hexdigest()
        if self.settings.hmac_secret:
            ts = int(self.clock().timestamp())
            headers["X-KEA-Timestamp"] = str(ts)
            headers["X-KEA-Signature"] = signature(self.settings.hmac_secret, ts, body)
        return self.settings.url, headers, body

    def classify(self, status: int, body: bytes, headers: Mapping[str, str]) -> DeliveryResult:
        if 200 <= status < 300:
            return DeliveryResult("ok", f"http_{status}", "accepted", status)
        return self.result_for_http(status, headers, body)


def _document(alert: Alert) -> dict[str, Any]:
    doc = alert.to_dict()
    doc.pop("templates", None)  # rule authors' template text is not the receiver's business
    return doc
