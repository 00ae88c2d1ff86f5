"""The page behind a card's 静默 1 小时 link, on the daemon's status port.

    GET  /silence?t=<token>   a confirmation page: what will be silenced, for how long, a button
    POST /silence             (form field t=<token>) creates the silence and shows it

A GET never changes anything (chat apps and mail scanners open links to preview them); the
POST does, and only what the signed token names: `rule=<rule>`, `key=<key>` for one hour,
author `link`. A bad, tampered or expired token is a 403 page and nothing is made. A second
POST for the same alert while its silence is still active makes no second silence, on any
replica: a link silence's id is the alert's (`link_silence_id`), so where two replicas share
the store and one has not yet read the other's silence, its write is refused as a duplicate and
it answers with the one stored. Plain HTML, every value escaped, no script; the token stays out
of logs and of the Referer header.
"""
from __future__ import annotations

import hashlib
import html
import json
import logging
from datetime import datetime
from typing import Callable, Iterable, Optional
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

from notifiers.clock import utcnow
from notifiers.routes import parse_matcher
from notifiers.silencelink import SILENCE_FOR, LinkError, LinkTarget, verify
from notifiers.silences import Silence
from watcher.health import Request, Response

from .store import SilenceExists, SilenceStore, StoreError

log = logging.getLogger("kea.silences")

PATH = "/silence"
AUTHOR = "link"
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                               "frame-ancestors 'none'",
    "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}
_TEXT = {
    "zh": {"title": "静默 1 小时", "what": "将静默以下告警 1 小时：", "rule": "规则", "key": "告警对象",
           "until": "静默至", "confirm": "确认静默 1 小时", "done": "已静默", "id": "静默 ID",
           "again": "该告警已在静默中", "refused": "链接无效", "comment": "一键静默（告警卡片链接）",
           "failed": "静默未能保存，请稍后重试或使用 kube-event-alerter silence add"},
    "en": {"title": "Silence for 1 hour", "what": "This silences the following alert for 1 hour:",
           "rule": "Rule", "key": "Alert key", "until": "Silenced until", "confirm": "Silence for 1 hour",
           "done": "Silenced", "id": "Silence id", "again": "This alert is already silenced",
           "refused": "This link cannot be used", "comment": "one-click silence (alert card link)",
           "failed": "The silence could not be stored; try again later or use kube-event-alerter silence add"},
}


class SilenceLinkPage:
    """An app for `watcher.health.StatusServer`: answers `PATH` only."""

    def __init__(self, store: SilenceStore, *, secret: str, language: str = "zh", timezone: str = "UTC",
                 clock: Callable[[], datetime] = utcnow,
                 on_request: Callable[[str, int], None] = lambda route, code: None) -> None:
        self.store, self._secret, self.clock, self.on_request = store, secret, clock, on_request
        self.text = _TEXT["en" if language == "en" else "zh"]
        self.tz = ZoneInfo(timezone)

    def __call__(self, request: Request) -> Optional[Response]:
        if request.path != PATH:
            return None
        response = self._answer(request)
        self.on_request("link", response.status)
        return response

    def _answer(self, request: Request) -> Response:
        if request.method not in ("GET", "POST"):
            return self._page(405, self.text["refused"], "<p>GET / POST</p>", {"Allow": "GET, POST"})
        form = request.query if request.method == "GET" else request.body.decode("utf-8", "replace")
        token = parse_qs(form).get("t", [""])[-1]
        try:
            target = verify(self._secret, token, self.clock())
        except LinkError as exc:
            log.info("silence link refused: %s", exc)
            return self._page(403, self.text["refused"], f"<p>{_e(str(exc))}</p>")
        if request.method == "GET":
            return self._confirm(target, token)
        return self._create(target)

    def _confirm(self, target: LinkTarget, token: str) -> Response:
        until = self._local(self.clock() + SILENCE_FOR)
        body = (f"<p>{_e(self.text['what'])}</p>{self._target(target)}"
                f"<p>{_e(self.text['until'])}: <b id=until>{_e(until)}</b></p>"
                f'<form method=post action="{PATH}"><input type=hidden name=t value="{_e(token)}">'
                f"<button type=submit id=confirm>{_e(self.text['confirm'])}</button></form>")
        return self._page(200, self.text["title"], body)

    def _create(self, target: LinkTarget) -> Response:
        now = self.clock()
        matchers = (parse_matcher(f"rule={json.dumps(target.rule)}"), parse_matcher(f"key={json.dumps(target.key)}"))
        known: Iterable[Silence] = self.store.snapshot()
        for _ in range(3):  # another replica stored it first: read the store, then answer or retry
            existing = _active_link_silence(known, matchers, now)
            if existing is not None:
                return self._done(200, self.text["again"], existing, target)
            silence = Silence(id=link_silence_id(target, {s.id for s in known}), matchers=matchers, starts_at=now,
                              ends_at=now + SILENCE_FOR, created_by=AUTHOR, comment=self.text["comment"],
                              created_at=now)
            try:
                self.store.add(silence)
            except SilenceExists:
                fresh = self._read()
                if fresh is None:
                    break
                known = fresh
                continue
            except StoreError as exc:
                log.error("silence link: the silence for %s %s could not be stored: %s", target.rule, target.key, exc)
                break
            log.info("silence %s added through a card link: rule=%s key=%s until %s", silence.id, target.rule,
                     target.key, silence.ends_at.isoformat())
            return self._done(201, self.text["done"], silence, target)
        return self._page(503, self.text["refused"], f"<p>{_e(self.text['failed'])}</p>")

    def _read(self) -> Optional[list[Silence]]:
        try:
            return self.store.list()
        except StoreError as exc:
            log.error("silence link: the silences cannot be read: %s", exc)
            return None

    def _done(self, status: int, heading: str, silence: Silence, target: LinkTarget) -> Response:
        body = (f"{self._target(target)}<p>{_e(self.text['until'])}: <b id=until>{_e(self._local(silence.ends_at))}"
                f"</b></p><p>{_e(self.text['id'])}: <code id=silence-id>{_e(silence.id)}</code></p>")
        return self._page(status, heading, body)

    def _target(self, target: LinkTarget) -> str:
        return (f"<dl><dt>{_e(self.text['rule'])}</dt><dd id=rule>{_e(target.rule)}</dd>"
                f"<dt>{_e(self.text['key'])}</dt><dd id=key>{_e(target.key)}</dd></dl>")

    def _local(self, when: datetime) -> str:
        return when.astimezone(self.tz).strftime("%Y-%m-%d %H:%M:%S %Z")

    def _page(self, status: int, heading: str, body: str, headers: Optional[dict[str, str]] = None) -> Response:
        page = (f"<!doctype html><html><head><meta charset=utf-8><meta name=viewport content=\"width=device-width\">"
                f"<title>{_e(heading)}</title><style>body{{font-family:sans-serif;max-width:40em;margin:2em auto;"
                f"padding:0 1em}}dd{{font-family:monospace;word-break:break-all}}button{{font-size:1.2em;"
                f"padding:.5em 1em}}</style></head><body><h1 id=heading>{_e(heading)}</h1>{body}</body></html>")
        return Response(status, page.encode("utf-8"), "text/html; charset=utf-8", {**_HEADERS, **(headers or {})})


def link_silence_id(target: LinkTarget, taken: set[str]) -> str:
    """`link-<digest of rule and key>-<n>`, n the first not `taken`: every link of one alert
    makes the same id while its silence is kept, so two replicas cannot both store one."""
    digest = hashlib.sha256(f"{target.rule}\0{target.key}".encode("utf-8")).hexdigest()[:32]
    n = 0
    while f"link-{digest}-{n}" in taken:
        n += 1
    return f"link-{digest}-{n}"


def _active_link_silence(silences: Iterable[Silence], matchers: tuple, now: datetime) -> Optional[Silence]:
    """An active link silence of the same alert: a double click makes no second one."""
    wanted = {str(m) for m in matchers}
    for s in silences:
        if s.created_by == AUTHOR and s.active(now) and {str(m) for m in s.matchers} == wanted:
            return s
    return None


def _e(text: str) -> str:
    return html.escape(text, quote=True)
