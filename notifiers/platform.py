"""The send step: what a platform's robot API is, shared by every platform file.

A platform file (wecom.py, dingtalk.py, feishu.py, webhook.py) supplies only what is its own,
as an Alertmanager integration does: the payload shape, signing, how mentions are written, its
pacing windows and its error-code table. Composing the text is compose.py's business; pacing,
retrying and settling are the worker's (worker.py, settle.py): a platform makes exactly one
HTTP attempt per `deliver()` and says what the answer means.

Success is decided from the JSON body's error code, never from the HTTP status alone:
DingTalk and WeCom answer HTTP 200 when they reject a message.
"""
from __future__ import annotations

import abc
import logging
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Mapping, Sequence

import orjson
import requests

from rules.alert import Alert

from .clock import WallClock
from .compose import Message
from .markup import Flavour
from .mentions import Mentions
from .redact import protect_logger, protect_third_party_loggers, redact
from .settings import NotifierSettings, PlatformSpec

ResultKind = Literal["ok", "retry", "throttle", "permanent"]
"""ok: confirmed. retry: transient, try again with backoff. throttle: the platform's rate
limit, pause the robot for `retry_after`. permanent: retrying cannot help (configuration)."""

_BODY_KEEP = 2000
USER_AGENT = "kube-event-alerter/0.1"


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """What one HTTP attempt came to. Every text in it is redacted."""

    kind: ResultKind
    code: str
    """The platform's code as text ("0", "93000"), or "http_503", "connection", "timeout",
    "request_error", "bad_response"."""
    message: str = ""
    http_status: int | None = None
    retry_after: float | None = None
    body: str = ""
    """The platform's answer, redacted and cut to 2000 characters."""

    @property
    def ok(self) -> bool:
        return self.kind == "ok"

    def __str__(self) -> str:
        http = f" http={self.http_status}" if self.http_status is not None else ""
        return f"{self.kind} code={self.code}{http} {self.message}".rstrip()


@dataclass(frozen=True, slots=True)
class CodeRule:
    kind: ResultKind
    meaning: str


protect_third_party_loggers()


class Platform(abc.ABC):
    """One robot's API: the layout hooks compose.py asks for, and one signed HTTP attempt."""

    platform: ClassVar[str]
    spec: ClassVar[PlatformSpec]
    codes: ClassVar[Mapping[int, CodeRule]] = {}
    separator: ClassVar[str] = "\n\n"
    max_body_bytes: ClassVar[int | None] = None
    """Limit of the whole request body, checked after serialising (Feishu: 20 KB)."""
    carries_alerts: ClassVar[bool] = False
    """True: the body is the alerts themselves (a generic webhook), not a message to read."""

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if getattr(cls, "platform", None):
            protect_logger(f"kea.notifiers.{cls.platform}")

    def __init__(self, settings: NotifierSettings, *, session: requests.Session,
                 clock: WallClock) -> None:
        self.settings = settings
        self.name = settings.name
        self.session = session
        self.clock = clock
        """Aware UTC wall clock for signing timestamps."""
        self.log = logging.getLogger(f"kea.notifiers.{self.platform}")

    # -- layout hooks (compose.py) -------------------------------------------------------------
    def template_name(self) -> str:
        return f"{self.platform}_{self.settings.msgtype}"

    def markup(self) -> Flavour:
        """How cluster values are escaped in this notifier's messages (markup.py)."""
        return "markdown" if self.settings.msgtype == "markdown" else "text"

    def mention_text(self, mentions: Mentions) -> str:
        return ""

    def format_header(self, header: str) -> str:
        return header

    @abc.abstractmethod
    def payload(self, *, title: str, text: str, mentions: Mentions, alerts: Sequence[Alert],
                body_title: str = "") -> Any:
        """The JSON-ready body. `body_title`: a single alert's title as the text shows it
        (escaped), for platforms that show the title in a header of their own."""

    # -- pacing and redaction -------------------------------------------------------------------
    def windows(self) -> tuple[tuple[float, int], ...]:
        """Hard (span_seconds, max_sends) windows of the robot (ratelimit.py)."""
        return ((60.0, self.settings.rate_per_minute),)

    def secrets(self) -> list[str]:
        return self.settings.secrets()

    # -- one attempt ----------------------------------------------------------------------------
    @abc.abstractmethod
    def classify(self, status: int, body: bytes, headers: Mapping[str, str]) -> DeliveryResult: ...

    def prepare(self, message: Message) -> tuple[str, dict[str, str], bytes]:
        """URL, headers and body of one attempt; signing happens here, fresh every time."""
        return self.settings.url, self.json_headers(), orjson.dumps(message.payload)

    def deliver(self, message: Message) -> DeliveryResult:
        """Exactly one HTTP attempt, classified. Never raises for network or platform errors.
        The caller registers `secrets()` for redaction first (Notifier.activate)."""
        url, headers, body = self.prepare(message)
        try:
            resp = self.session.post(url, data=body, headers=headers,
                                     timeout=self.settings.timeout_seconds,
                                     verify=self.settings.verify_tls)
        except requests.Timeout as e:
            # The platform may have accepted it before timing out; retrying risks a duplicate,
            # not retrying risks a loss. We retry: a duplicate alert is the lesser harm.
            return DeliveryResult("retry", "timeout", redact(e))
        except requests.ConnectionError as e:
            return DeliveryResult("retry", "connection", redact(e))
        except requests.RequestException as e:
            return DeliveryResult("retry", "request_error", redact(e))
        return self.classify(resp.status_code, resp.content, resp.headers)

    # -- helpers for platform files ------------------------------------------------------------
    @staticmethod
    def json_headers() -> dict[str, str]:
        return {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT}

    def result_for_code(self, code: int, message: str, *, http_status: int,
                        body: bytes, ok_code: int = 0) -> DeliveryResult:
        """Look `code` up in the platform's table; unknown codes are permanent and logged."""
        text = redact(body.decode("utf-8", errors="replace"))[:_BODY_KEEP]
        msg = redact(message)
        if code == ok_code:
            return DeliveryResult("ok", str(code), msg, http_status, body=text)
        rule = self.codes.get(code)
        if rule is None:
            self.log.error("%s notifier %s: unknown error code %s (%s): not retried; "
                           "check the platform documentation", self.platform, self.name, code, msg)
            return DeliveryResult("permanent", str(code), f"unknown code: {msg}", http_status,
                                  body=text)
        retry_after = self.settings.throttle_pause_seconds if rule.kind == "throttle" else None
        return DeliveryResult(rule.kind, str(code), f"{rule.meaning}: {msg}", http_status,
                              retry_after, text)

    def result_for_http(self, status: int, headers: Mapping[str, str],
                        body: bytes) -> DeliveryResult:
        """For answers without a platform code: judge by the HTTP status."""
        text = redact(body.decode("utf-8", errors="replace"))[:_BODY_KEEP]
        if 200 <= status < 300:
            self.log.error("%s notifier %s: HTTP %s without a readable result code: not "
                           "retried (a proxy in the way?)", self.platform, self.name, status)
            return DeliveryResult("permanent", "bad_response", "no result code in the answer",
                                  status, body=text)
        if status == 429:
            return DeliveryResult("throttle", "http_429", "too many requests", status,
                                  _retry_after(headers, self.settings.throttle_pause_seconds), text)
        if status == 408 or status >= 500:
            return DeliveryResult("retry", f"http_{status}", "server error", status, body=text)
        return DeliveryResult("permanent", f"http_{status}", "rejected", status, body=text)


def _retry_after(headers: Mapping[str, str], default: float) -> float:
    try:
        return max(1.0, float(headers.get("Retry-After", "")))
    except ValueError:
        return default


def parse_json(body: bytes) -> dict[str, Any] | None:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None
