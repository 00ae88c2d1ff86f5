"""The notifier base: render → limit → send → classify, shared by every platform file.

A platform file (wecom.py, dingtalk.py, feishu.py, webhook.py) supplies only what is its own:
the payload shape, signing, how mentions are written, and its error-code table. Retrying,
pausing and the outbox are the dispatcher's business (dispatcher.py, worker.py): a notifier
makes exactly one HTTP attempt per `deliver()` and says what the answer means.

Success is decided from the JSON body's error code, never from the HTTP status alone:
DingTalk and WeCom answer HTTP 200 when they reject a message.
"""
from __future__ import annotations

import abc
import hashlib
import logging
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Mapping, Sequence

import orjson
import requests

from rules.alert import Alert

from .clock import Monotonic, WallClock
from .markup import Flavour
from .mentions import Mentions
from .ratelimit import RateLimiter
from .redact import protect_logger, protect_third_party_loggers, redact, register_secrets
from .settings import NotifierSettings, PlatformSpec
from .templates import Renderer
from .text import truncate_utf8, utf8_len

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
    "bad_response", "local_rate_limit"."""
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
class Message:
    title: str
    text: str
    """The rendered content after limits (what the group reads)."""
    payload: Any
    """JSON-ready body before signing (bytes for a templated generic webhook)."""
    alert_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Built:
    message: Message
    count: int
    """How many of the alerts given to `build` the message carries, from the front."""


@dataclass(frozen=True, slots=True)
class CodeRule:
    kind: ResultKind
    meaning: str


protect_third_party_loggers()


class Notifier(abc.ABC):
    platform: ClassVar[str]
    spec: ClassVar[PlatformSpec]
    codes: ClassVar[Mapping[int, CodeRule]] = {}
    separator: ClassVar[str] = "\n\n"
    max_body_bytes: ClassVar[int | None] = None
    """Limit of the whole request body, checked after serialising (Feishu: 20 KB)."""

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if getattr(cls, "platform", None):
            protect_logger(f"kea.notifiers.{cls.platform}")

    def __init__(self, settings: NotifierSettings, *, session: requests.Session,
                 clock: WallClock, monotonic: Monotonic) -> None:
        self.settings = settings
        self.name = settings.name
        self.session = session
        self.clock = clock
        # Building one has no side effect (config validation builds them): its secrets are
        # registered when it is put to work (`activate`); its logger and urllib3's carry the
        # redaction filter from the moment the platform class exists.
        self._active = False
        self.log = logging.getLogger(f"kea.notifiers.{self.platform}")
        self.renderer = Renderer(settings, default_template=self.template_name(), logger=self.log,
                                 markup=self.markup())
        self.limiter = RateLimiter(rate_per_minute=settings.rate_per_minute, burst=settings.burst,
                                   windows=self.windows(), monotonic=monotonic)
        self.robot_key = hashlib.sha256(settings.url.encode()).hexdigest()[:16]
        """Identifies the robot without revealing its URL (limiters are shared per robot)."""

    def activate(self) -> "Notifier":
        """Register this notifier's secrets for redaction (once; `deliver` does it before the
        first request, so nothing is sent, and so logged, unprotected)."""
        if not self._active:
            register_secrets(self.secrets())
            self._active = True
        return self

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} robot={self.robot_key}>"

    # -- platform hooks ------------------------------------------------------------------------
    def template_name(self) -> str:
        return f"{self.platform}_{self.settings.msgtype}"

    def markup(self) -> Flavour:
        """How cluster values are escaped in this notifier's messages (markup.py)."""
        return "markdown" if self.settings.msgtype == "markdown" else "text"

    def windows(self) -> tuple[tuple[float, int], ...]:
        return ((60.0, self.settings.rate_per_minute),)

    def secrets(self) -> list[str]:
        return self.settings.secrets()

    def mention_text(self, mentions: Mentions) -> str:
        return ""

    def guard(self, text: str) -> str:
        """Robots secured by custom keywords (DingTalk 310000, Feishu 19024) reject a message
        without one: if the rendered text has none, append the first configured keyword."""
        keywords = self.settings.keywords
        if keywords and not any(k in text for k in keywords):
            return text + "\n\n" + keywords[0]
        return text

    def guard_reserve(self) -> int:
        keywords = self.settings.keywords
        return utf8_len("\n\n" + keywords[0]) if keywords else 0

    def format_header(self, header: str) -> str:
        return header

    @abc.abstractmethod
    def payload(self, *, title: str, text: str, mentions: Mentions,
                alerts: Sequence[Alert]) -> Any: ...

    @abc.abstractmethod
    def classify(self, status: int, body: bytes, headers: Mapping[str, str]) -> DeliveryResult: ...

    def prepare(self, message: Message) -> tuple[str, dict[str, str], bytes]:
        """URL, headers and body of one attempt; signing happens here, fresh every time."""
        return self.settings.url, self.json_headers(), orjson.dumps(message.payload)

    # -- pipeline ------------------------------------------------------------------------------
    def build(self, alerts: Sequence[Alert]) -> Built:
        """One message for the first alert, or a digest of as many queued alerts as fit."""
        if not alerts:
            raise ValueError("build() needs at least one alert")
        budget = self.settings.max_bytes
        built = self._compose(alerts, budget)
        for _ in range(4):
            if self.max_body_bytes is None:
                break
            size = len(orjson.dumps(built.message.payload))
            if size <= self.max_body_bytes:
                break
            # JSON escaping and structure grew the body past the platform limit: shrink.
            budget -= size - self.max_body_bytes + 256
            built = self._compose(alerts, max(256, budget))
        return built

    def deliver(self, message: Message) -> DeliveryResult:
        """Exactly one HTTP attempt, classified. Never raises for network or platform errors."""
        self.activate()
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

    def send_now(self, alert: Alert) -> DeliveryResult:
        """Render and send one alert now, once, without outbox or retries (`notify test`)."""
        message = self.build([alert]).message
        wait = self.limiter.try_acquire()
        if wait > 0:
            return DeliveryResult("throttle", "local_rate_limit",
                                  f"robot paused or rate-limited for another {wait:.0f}s",
                                  retry_after=wait)
        return self.deliver(message)

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

    # -- internals -----------------------------------------------------------------------------
    def _compose(self, alerts: Sequence[Alert], budget: int) -> Built:
        r = self.renderer
        if len(alerts) == 1 or self.settings.max_batch == 1:
            alert = alerts[0]
            mentions = r.mentions(alert)
            title = r.title(alert)
            text = self._fit(r.render(alert), mentions, budget)
            return Built(Message(title, text, self.payload(title=title, text=text,
                                                           mentions=mentions, alerts=[alert]),
                                 (alert.id,)), 1)
        candidates = list(alerts[: self.settings.max_batch])
        items: list[str] = []
        used: list[Alert] = []
        mentions = Mentions()
        for alert in candidates:
            item = r.render(alert)
            merged = mentions.merge(r.mentions(alert))
            header = self.format_header(r.digest_header(used + [alert],
                                                        remaining=len(alerts) - len(used) - 1))
            fits = self._fits(self.separator.join([header, *items, item]), merged, budget)
            if fits or not items:  # the first one goes in even if it must be cut
                items.append(item)
                used.append(alert)
                mentions = merged
            if not fits:
                break
        if len(used) == 1:
            return self._compose(used, budget)
        plain_header = r.digest_header(used, remaining=len(alerts) - len(used))
        body = self.separator.join([self.format_header(plain_header), *items])
        text = self._fit(body, mentions, budget)
        payload = self.payload(title=plain_header, text=text, mentions=mentions, alerts=used)
        return Built(Message(plain_header, text, payload, tuple(a.id for a in used)), len(used))

    def _tail(self, mentions: Mentions, budget: int) -> str:
        """The mention line, or "" if it would take more than a quarter of the budget (the
        payload's mention fields still notify on WeCom text and DingTalk)."""
        tail = self.mention_text(mentions) if mentions else ""
        if not tail or utf8_len(tail) + 2 > budget // 4:
            return ""
        return "\n\n" + tail

    def _fits(self, body: str, mentions: Mentions, budget: int) -> bool:
        return (utf8_len(body) + utf8_len(self._tail(mentions, budget)) + self.guard_reserve()
                <= budget)

    def _fit(self, body: str, mentions: Mentions, budget: int) -> str:
        tail = self._tail(mentions, budget)
        if mentions and not tail and self.mention_text(mentions):
            self.log.warning("%s notifier %s: mention line too long for the message; sent "
                             "without it", self.platform, self.name)
        room = budget - utf8_len(tail) - self.guard_reserve()
        body, cut = truncate_utf8(body, max(0, room), self.renderer.marker)
        if cut:
            self.log.info("%s notifier %s: message cut to %d bytes", self.platform, self.name,
                          budget)
        return self.guard(body + tail)


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
