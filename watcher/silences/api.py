"""The silences HTTP API on the daemon's status port, as `silence add/list/expire --url` and
scripts use it:

    GET    /api/v1/silences[?expired=true]   active and pending ones (and the expired kept)
    POST   /api/v1/silences                  {"matchers": ["namespace=shop"], "duration": "2h",
                                               "created_by": "li", "comment": "扩容中"}
    DELETE /api/v1/silences/{id}             expire it now

Every request needs `Authorization: Bearer <api.token>`, reads too (silences name teams'
workloads); compared in constant time, never logged. Without a configured token the API is
off: 403 to everything. Answers are JSON; an error is `{"error": ..., "field": ...}` with 400
(the field named), 401, 403, 404, 405, 503 (the store cannot be reached).
"""
from __future__ import annotations

import hmac
import json
import logging
from datetime import datetime, timedelta
from typing import Any, Callable, Optional
from urllib.parse import parse_qs, unquote

from notifiers.clock import utcnow
from notifiers.silences import ZONED_EXAMPLE, Silence, zoned_time
from rules import durations
from watcher.health import Request, Response

from .store import SilenceStore, StoreError, UnknownSilence

log = logging.getLogger("kea.silences")

PREFIX = "/api/v1/silences"
FIELDS = ("matchers", "starts_at", "ends_at", "duration", "created_by", "comment")
MAX_DURATION = timedelta(days=90)
"""Longer is a typo (or a forgotten silence); a real one can be made again."""


class BadField(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class SilencesApi:
    """An app for `watcher.health.StatusServer`: answers the paths under `PREFIX`."""

    def __init__(self, store: SilenceStore, *, token: str, clock: Callable[[], datetime] = utcnow,
                 on_request: Callable[[str, int], None] = lambda route, code: None) -> None:
        self.store, self.clock, self.on_request = store, clock, on_request
        self._token = token.encode("utf-8")

    def __call__(self, request: Request) -> Optional[Response]:
        if request.path != PREFIX and not request.path.startswith(PREFIX + "/"):
            return None
        response = self._answer(request)
        self.on_request("api", response.status)
        return response

    def _answer(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        silence_id = unquote(request.path[len(PREFIX) + 1:]) if request.path != PREFIX else ""
        if "/" in silence_id:
            return error(404, "no such path")
        handler, allowed = self._route(request, silence_id)
        if handler is None:
            return error(405, f"use {allowed} here", headers={"Allow": allowed})
        try:
            return handler()
        except BadField as exc:
            return error(400, str(exc), field=exc.field)
        except UnknownSilence:
            return error(404, f"no silence with id {silence_id}")
        except StoreError as exc:
            return error(503, str(exc))

    def _route(self, request: Request, silence_id: str) -> tuple[Optional[Callable[[], Response]], str]:
        """The handler for the request on the collection or on one silence, and the methods allowed there."""
        if silence_id:
            return (lambda: self._expire(silence_id)) if request.method == "DELETE" else None, "DELETE"
        handlers = {"GET": lambda: self._list(request), "POST": lambda: self._add(request)}
        return handlers.get(request.method), "GET, POST"

    def _refused(self, request: Request) -> Optional[Response]:
        if not self._token:
            return error(403, "the silences API is off: configure api.token_file (or env KEA_API_TOKEN)")
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode("utf-8"), self._token):
            return error(401, "missing or wrong bearer token", headers={"WWW-Authenticate": 'Bearer realm="kea"'})
        return None

    def _list(self, request: Request) -> Response:
        expired = parse_qs(request.query).get("expired", ["false"])[-1].lower() in ("1", "true", "yes")
        now = self.clock()
        shown = [s for s in self.store.list() if expired or s.state(now) != "expired"]
        return ok(200, {"silences": [described(s, now) for s in shown]})

    def _add(self, request: Request) -> Response:
        body = _json_object(request.body)
        silence = silence_from_request(body, now=self.clock())
        self.store.add(silence)
        log.info("silence %s added by %s: %s until %s", silence.id, silence.created_by,
                 ", ".join(map(str, silence.matchers)), silence.ends_at.isoformat())
        return ok(201, {"id": silence.id, "silence": described(silence, self.clock())})

    def _expire(self, silence_id: str) -> Response:
        ended = self.store.expire(silence_id, self.clock())
        log.info("silence %s expired through the API", silence_id)
        return ok(200, {"id": ended.id, "silence": described(ended, self.clock())})


def silence_from_request(body: dict[str, Any], *, now: datetime) -> Silence:
    """A new silence from the POST body; BadField naming the field for anything wrong."""
    for key in body:
        if key not in FIELDS:
            raise BadField(str(key), f"unknown field `{key}`; expected {', '.join(FIELDS)}")
    matchers = body.get("matchers")
    if not isinstance(matchers, list) or not matchers:
        raise BadField("matchers", 'expected a non-empty list of matchers like ["namespace=shop"]')
    created_by, comment = _text(body, "created_by"), _text(body, "comment")
    starts_at = _time(body, "starts_at") if body.get("starts_at") is not None else now
    ends_at = _ends_at(body, max(starts_at, now))
    try:
        return Silence.create(matchers, starts_at=starts_at, ends_at=ends_at, created_by=created_by,
                              comment=comment, now=now)
    except ValueError as exc:  # "silence field `matchers[1]`: ..."
        text = str(exc)
        field = text.split("`", 2)[1] if text.count("`") >= 2 else "matchers"
        raise BadField(field, text) from None


def _ends_at(body: dict[str, Any], start: datetime) -> datetime:
    if (body.get("ends_at") is None) == (body.get("duration") is None):
        raise BadField("ends_at", "give either `ends_at` (an ISO 8601 time) or `duration` (like 2h)")
    if body.get("duration") is not None:
        try:
            length = durations.parse(body["duration"])
        except ValueError as exc:
            raise BadField("duration", str(exc)) from None
        if length <= timedelta(0):
            raise BadField("duration", "must be longer than 0s")
        end = start + length
        field = "duration"
    else:
        end, field = _time(body, "ends_at"), "ends_at"
    if end - start > MAX_DURATION:
        raise BadField(field, f"a silence may last at most {MAX_DURATION.days} days")
    return end


def _text(body: dict[str, Any], field: str) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value.strip():
        raise BadField(field, "expected a non-empty string (who made the silence, and why)")
    if len(value) > 1000:
        raise BadField(field, "at most 1000 characters")
    return value.strip()


def _time(body: dict[str, Any], field: str) -> datetime:
    parsed = zoned_time(body.get(field))
    if parsed is None:
        raise BadField(field, f"expected an ISO 8601 time with a zone, like {ZONED_EXAMPLE}")
    return parsed


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise BadField("(body)", "expected a JSON object") from None
    if not isinstance(data, dict):
        raise BadField("(body)", "expected a JSON object")
    return data


def described(silence: Silence, now: datetime) -> dict[str, Any]:
    """`to_dict()` plus its state now (pending / active / expired)."""
    return {**silence.to_dict(), "state": silence.state(now)}


def ok(status: int, data: Any) -> Response:
    return Response(status, json.dumps(data, ensure_ascii=False).encode("utf-8"), "application/json; charset=utf-8")


def error(status: int, message: str, *, field: str = "", headers: Optional[dict[str, str]] = None) -> Response:
    data = {"error": message, **({"field": field} if field else {})}
    return Response(status, json.dumps(data, ensure_ascii=False).encode("utf-8"), "application/json; charset=utf-8",
                    headers or {})
