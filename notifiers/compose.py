"""The compose step: from queued alerts to the one message a robot receives.

One alert gives one message; when alerts queued up (the robot was paused or rate-limited),
as many as fit go into one digest. Either way the text is fit to the notifier's byte budget
(text.py), carries the mention line and, for robots secured by keywords, a keyword. The words
come from templates.py (Jinja, card.py's rows, markup.py's escaping, mentions.py's owners);
the platform (platform.py and its files) only lays them out: header style, mention syntax,
payload shape. Nothing here sends, sleeps or reads a clock.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, Sequence

import orjson

from rules.alert import Alert

from .markup import Flavour
from .mentions import Mentions
from .settings import NotifierSettings
from .templates import Renderer
from .text import truncate_utf8, utf8_len


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


class Layout(Protocol):
    """What the composer asks of a platform (platform.py implements it)."""

    separator: ClassVar[str]
    max_body_bytes: ClassVar[int | None]
    carries_alerts: ClassVar[bool]

    def template_name(self) -> str: ...

    def markup(self) -> Flavour: ...

    def mention_text(self, mentions: Mentions) -> str: ...

    def format_header(self, header: str) -> str: ...

    def payload(self, *, title: str, text: str, mentions: Mentions, alerts: Sequence[Alert],
                body_title: str = "") -> Any: ...


class Composer:
    """Builds one notifier's messages: render, digest, fit to the byte budget, mentions."""

    def __init__(self, settings: NotifierSettings, layout: Layout, *,
                 logger: logging.Logger) -> None:
        self.settings = settings
        self.layout = layout
        self.log = logger
        self.renderer = Renderer(settings, default_template=layout.template_name(),
                                 logger=logger, markup=layout.markup())

    def build(self, alerts: Sequence[Alert]) -> Built:
        """One message for the first alert, or a digest of as many queued alerts as fit."""
        if not alerts:
            raise ValueError("build() needs at least one alert")
        if self.layout.carries_alerts:
            return self._documents(alerts)
        budget = self.settings.max_bytes
        built = self._compose(alerts, budget)
        limit = self.layout.max_body_bytes
        for _ in range(4):
            if limit is None:
                break
            size = len(orjson.dumps(built.message.payload))
            if size <= limit:
                break
            # JSON escaping and structure grew the body past the platform limit: shrink.
            budget -= size - limit + 256
            built = self._compose(alerts, max(256, budget))
        return built

    def guard(self, text: str) -> str:
        """Robots secured by custom keywords (DingTalk 310000, Feishu 19024) reject a message
        without one: if the rendered text has none, append the first configured keyword."""
        keywords = self.settings.keywords
        if keywords and not any(k in text for k in keywords):
            return text + "\n\n" + keywords[0]
        return text

    # -- messages to read ----------------------------------------------------------------------
    def _compose(self, alerts: Sequence[Alert], budget: int) -> Built:
        if len(alerts) == 1 or self.settings.max_batch == 1:
            return self._single(alerts[0], budget)
        r, layout = self.renderer, self.layout
        items: list[str] = []
        used: list[Alert] = []
        mentions = Mentions()
        for alert in alerts[: self.settings.max_batch]:
            item = r.render(alert)
            merged = mentions.merge(r.mentions(alert))
            header = layout.format_header(r.digest_header(used + [alert],
                                                          remaining=len(alerts) - len(used) - 1))
            fits = self._fits(layout.separator.join([header, *items, item]), merged, budget)
            if fits or not items:  # the first one goes in even if it must be cut
                items.append(item)
                used.append(alert)
                mentions = merged
            if not fits:
                break
        if len(used) == 1:
            return self._single(used[0], budget)
        plain_header = r.digest_header(used, remaining=len(alerts) - len(used))
        body = layout.separator.join([layout.format_header(plain_header), *items])
        text = self._fit(body, mentions, budget)
        payload = layout.payload(title=plain_header, text=text, mentions=mentions, alerts=used)
        return Built(Message(plain_header, text, payload, tuple(a.id for a in used)), len(used))

    def _single(self, alert: Alert, budget: int) -> Built:
        r = self.renderer
        mentions = r.mentions(alert)
        title = r.title(alert)
        text = self._fit(r.render(alert), mentions, budget)
        payload = self.layout.payload(title=title, text=text, mentions=mentions, alerts=[alert],
                                      body_title=r.escaped_title(alert))
        return Built(Message(title, text, payload, (alert.id,)), 1)

    def _tail(self, mentions: Mentions, budget: int) -> str:
        """The mention line, or "" if it would take more than a quarter of the budget (the
        payload's mention fields still notify on WeCom text and DingTalk)."""
        tail = self.layout.mention_text(mentions) if mentions else ""
        if not tail or utf8_len(tail) + 2 > budget // 4:
            return ""
        return "\n\n" + tail

    def _guard_reserve(self) -> int:
        keywords = self.settings.keywords
        return utf8_len("\n\n" + keywords[0]) if keywords else 0

    def _fits(self, body: str, mentions: Mentions, budget: int) -> bool:
        return (utf8_len(body) + utf8_len(self._tail(mentions, budget)) + self._guard_reserve()
                <= budget)

    def _fit(self, body: str, mentions: Mentions, budget: int) -> str:
        platform, name = self.settings.type, self.settings.name
        tail = self._tail(mentions, budget)
        if mentions and not tail and self.layout.mention_text(mentions):
            self.log.warning("%s notifier %s: mention line too long for the message; sent "
                             "without it", platform, name)
        room = budget - utf8_len(tail) - self._guard_reserve()
        body, cut = truncate_utf8(body, max(0, room), self.renderer.marker)
        if cut:
            self.log.info("%s notifier %s: message cut to %d bytes", platform, name, budget)
        return self.guard(body + tail)

    # -- bodies that are the alerts (generic webhook) ------------------------------------------
    def _documents(self, alerts: Sequence[Alert]) -> Built:
        """A rendered template for one alert, or as many alerts as fit `max_bytes` as JSON."""
        r, first = self.renderer, alerts[0]
        if r.override(first):
            text = r.render(first)
            return Built(Message(r.title(first), text, text.encode("utf-8"), (first.id,)), 1)
        used: list[Alert] = []
        for alert in alerts[: self.settings.max_batch]:
            if used and (r.override(alert) or self._too_big([*used, alert])):
                break
            used.append(alert)
        payload = self.layout.payload(title=r.title(first), text=first.summary,
                                      mentions=Mentions(), alerts=used)
        return Built(Message(r.title(first), first.summary, payload, tuple(a.id for a in used)),
                     len(used))

    def _too_big(self, alerts: list[Alert]) -> bool:
        body = self.layout.payload(title="", text="", mentions=Mentions(), alerts=alerts)
        return len(orjson.dumps(body)) > self.settings.max_bytes
