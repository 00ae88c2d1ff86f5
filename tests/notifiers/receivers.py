"""Protocol-true local robots: WeCom, DingTalk, Feishu and a generic webhook receiver.

Each runs a real HTTP server (werkzeug) on 127.0.0.1 and checks requests the way the platform
does (see /work/shared/reference/im-robots.md): credentials, signatures with the timestamp
window, keywords, byte limits, per-robot rate limits, answered with the documented codes (HTTP
200 + errcode for WeCom/DingTalk, HTTP 400 + code for Feishu). Time comes from a `FakeClock`
shared with the notifier under test, so "ten minutes later" takes no real time.

Every request is logged in `requests` (time, robot, code) and every accepted message in
`accepted`. `script(...)` queues answers for the next requests that pass the credential
checks (to play "system busy" and friends).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response


class FakeClock:
    """Wall and monotonic time that move only when someone sleeps or advances them."""

    def __init__(self, start: datetime = datetime(2024, 5, 1, 6, 0, tzinfo=timezone.utc)) -> None:
        self._start = start
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._start + timedelta(seconds=self._offset)

    def monotonic(self) -> float:
        with self._lock:
            return 10_000.0 + self._offset

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self._offset += max(0.0, seconds)

    advance = sleep


@dataclass
class Received:
    robot: str
    payload: Any
    at: float
    """Monotonic time of arrival."""
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Answer:
    robot: str
    at: float
    http_status: int
    code: int


class _QuietHandler(WSGIRequestHandler):
    # werkzeug logs each request line, query string (= the robot's key) included.
    def log(self, *args: Any, **kwargs: Any) -> None:
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def max_in_window(times: list[float], span: float) -> int:
    """Most requests that fall into any half-open window of `span` seconds."""
    times = sorted(times)
    best, i = 0, 0
    for j, t in enumerate(times):
        while times[i] <= t - span:
            i += 1
        best = max(best, j - i + 1)
    return best


class Receiver:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self.accepted: list[Received] = []
        self.answers: list[Answer] = []
        self.times: dict[str, list[float]] = {}
        self._scripted: deque[tuple[int, Any]] = deque()
        self._server = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- server --------------------------------------------------------------------------------
    def start(self, port: int = 0) -> "Receiver":
        self._server = make_server("127.0.0.1", port, self._wsgi, threaded=True,
                                   request_handler=_QuietHandler)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script(self, http_status: int, body: dict[str, Any] | str, times: int = 1) -> None:
        with self.lock:
            for _ in range(times):
                self._scripted.append((http_status, body))

    def codes(self) -> list[int]:
        with self.lock:
            return [a.code for a in self.answers]

    def texts(self) -> list[str]:
        with self.lock:
            return [self.text_of(r.payload) for r in self.accepted]

    def text_of(self, payload: Any) -> str:
        raise NotImplementedError

    # -- request handling ----------------------------------------------------------------------
    def _wsgi(self, environ: dict, start_response: Any) -> Any:
        request = Request(environ)
        with self.lock:
            status, body = self.handle(request)
        if isinstance(body, str):  # a scripted non-JSON answer (a proxy's error page)
            return Response(body, status, content_type="text/html")(environ, start_response)
        return Response(json.dumps(body), status, content_type="application/json")(
            environ, start_response)

    def handle(self, request: Request) -> tuple[int, dict[str, Any]]:
        raise NotImplementedError

    def _count(self, robot: str, span: float) -> int:
        """Record this request for `robot`; return how many came in the last `span` seconds
        before it (a rolling window, as the platforms count)."""
        now = self.clock.monotonic()
        times = self.times.setdefault(robot, [])
        before = sum(1 for t in times if t > now - span)
        times.append(now)
        return before

    def _answer(self, robot: str, status: int, code: int, body: dict[str, Any]
                ) -> tuple[int, dict[str, Any]]:
        self.answers.append(Answer(robot, self.clock.monotonic(), status, code))
        return status, body

    def _play_script(self, robot: str) -> tuple[int, Any] | None:
        """The next scripted answer, if any, logged like a real one."""
        if not self._scripted:
            return None
        status, body = self._scripted.popleft()
        code = body.get("errcode", body.get("code", status)) if isinstance(body, dict) else status
        return self._answer(robot, status, code, body)

    def _accept(self, robot: str, request: Request, payload: Any) -> None:
        self.accepted.append(Received(robot, payload, self.clock.monotonic(),
                                      dict(request.headers), request.args.to_dict(flat=False)))


def _json(request: Request) -> Any:
    try:
        return json.loads(request.get_data().decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None


class WeComReceiver(Receiver):
    """`/cgi-bin/webhook/send?key=KEY`; 20 msgs/min per key → 45009; text ≤ 2048 and markdown
    ≤ 4096 bytes → else 40058; unknown key → 93000; unknown msgtype → 40008."""

    def __init__(self, clock: FakeClock, *, keys: tuple[str, ...], limit_per_minute: int = 20
                 ) -> None:
        super().__init__(clock)
        self.keys = set(keys)
        self.limit = limit_per_minute

    def text_of(self, payload: Any) -> str:
        return payload.get("markdown", payload.get("text", {})).get("content", "")

    def handle(self, request: Request) -> tuple[int, dict[str, Any]]:
        if request.path != "/cgi-bin/webhook/send":
            return 404, {"error": "not found"}
        key = request.args.get("key", "")
        if key not in self.keys:
            return self._answer(key, 200, 93000, {"errcode": 93000, "errmsg":
                                "invalid webhook url, hint: [...]"})
        if self._count(key, 60.0) >= self.limit:
            return self._answer(key, 200, 45009, {"errcode": 45009, "errmsg":
                                "api freq out of limit"})
        scripted = self._play_script(key)
        if scripted:
            return scripted
        body = _json(request)
        if not isinstance(body, dict):
            return self._answer(key, 200, 40035, {"errcode": 40035, "errmsg": "invalid json"})
        kind = body.get("msgtype")
        limits = {"text": 2048, "markdown": 4096}
        if kind not in limits:
            return self._answer(key, 200, 40008, {"errcode": 40008, "errmsg":
                                "invalid message type"})
        content = (body.get(kind) or {}).get("content")
        if not isinstance(content, str) or len(content.encode("utf-8")) > limits[kind]:
            return self._answer(key, 200, 40058, {"errcode": 40058, "errmsg":
                                "content exceed max length"})
        for lst in ("mentioned_list", "mentioned_mobile_list"):
            if lst in body[kind] and not all(isinstance(x, str) for x in body[kind][lst]):
                return self._answer(key, 200, 40058, {"errcode": 40058, "errmsg": "bad list"})
        self._accept(key, request, body)
        return self._answer(key, 200, 0, {"errcode": 0, "errmsg": "ok"})


@dataclass
class DingRobot:
    secret: str = ""
    keywords: tuple[str, ...] = ()


class DingTalkReceiver(Receiver):
    """`/robot/send?access_token=T[&timestamp&sign]`: token → 300001; signature, timestamp
    (± 1 h) and keywords → 310000; the 21st message in a rolling minute → 130101 and the robot
    stays blocked for `block_seconds`; content over `max_bytes` → 460101."""

    def __init__(self, clock: FakeClock, *, robots: dict[str, DingRobot],
                 limit_per_minute: int = 20, block_seconds: float = 600.0,
                 max_bytes: int = 20_000) -> None:
        super().__init__(clock)
        self.robots = robots
        self.limit = limit_per_minute
        self.block_seconds = block_seconds
        self.max_bytes = max_bytes
        self.blocked_until: dict[str, float] = {}
        self.blocks: list[tuple[float, float]] = []

    def text_of(self, payload: Any) -> str:
        if payload.get("msgtype") == "markdown":
            return payload["markdown"]["text"]
        return payload["text"]["content"]

    def _sign_ok(self, robot: DingRobot, request: Request) -> str:
        stamps, signs = request.args.getlist("timestamp"), request.args.getlist("sign")
        if len(stamps) != 1 or len(signs) != 1:
            return "sign not match"
        try:
            ts = int(stamps[0])
        except ValueError:
            return "timestamp invalid"
        now_ms = int(self.clock.now().timestamp() * 1000)
        if abs(now_ms - ts) > 3600 * 1000:
            return "timestamp invalid, more than 1 hour"
        string_to_sign = f"{ts}\n{robot.secret}".encode("utf-8")
        expected = base64.b64encode(hmac.new(robot.secret.encode("utf-8"), string_to_sign,
                                             hashlib.sha256).digest()).decode("ascii")
        # request.args decoded the query exactly once, as DingTalk does.
        return "" if hmac.compare_digest(signs[0], expected) else "sign not match"

    def handle(self, request: Request) -> tuple[int, dict[str, Any]]:
        if request.path != "/robot/send":
            return 404, {"error": "not found"}
        token = request.args.get("access_token", "")
        robot = self.robots.get(token)
        if robot is None:
            return self._answer(token, 200, 300001, {"errcode": 300001, "errmsg":
                                "token is not exist"})
        if robot.secret:
            problem = self._sign_ok(robot, request)
            if problem:
                return self._answer(token, 200, 310000, {"errcode": 310000, "errmsg": problem})
        now = self.clock.monotonic()
        if self.blocked_until.get(token, -1.0) > now:
            return self._answer(token, 200, 130101, {"errcode": 130101, "errmsg":
                                "send too fast, exceed 20 times per minute"})
        if self._count(token, 60.0) >= self.limit:
            self.blocked_until[token] = now + self.block_seconds
            self.blocks.append((now, now + self.block_seconds))
            return self._answer(token, 200, 130101, {"errcode": 130101, "errmsg":
                                "send too fast, exceed 20 times per minute"})
        scripted = self._play_script(token)
        if scripted:
            return scripted
        body = _json(request)
        kind = body.get("msgtype") if isinstance(body, dict) else None
        if kind == "markdown" and body["markdown"].get("title") and body["markdown"].get("text"):
            content = body["markdown"]["text"]
        elif kind == "text" and body["text"].get("content"):
            content = body["text"]["content"]
        else:
            return self._answer(token, 200, 40035, {"errcode": 40035, "errmsg": "缺少参数 json"})
        if robot.keywords and not any(k in content for k in robot.keywords):
            return self._answer(token, 200, 310000, {"errcode": 310000, "errmsg":
                                "keywords not in content"})
        if len(content.encode("utf-8")) > self.max_bytes:
            return self._answer(token, 200, 460101, {"errcode": 460101, "errmsg":
                                "message too long"})
        self._accept(token, request, body)
        return self._answer(token, 200, 0, {"errcode": 0, "errmsg": "ok"})


class FeishuReceiver(Receiver):
    """`/open-apis/bot/v2/hook/<token>`: signature in the body (± 1 h) → 19021; 5/s and
    100/min → 9499; body over 20 KB → 19002 (code unverified); all errors with HTTP 400."""

    def __init__(self, clock: FakeClock, *, bots: dict[str, str], per_second: int = 5,
                 per_minute: int = 100, max_body: int = 20 * 1024) -> None:
        super().__init__(clock)
        self.bots = bots
        self.per_second = per_second
        self.per_minute = per_minute
        self.max_body = max_body
        self.second_times: dict[str, list[float]] = {}

    def text_of(self, payload: Any) -> str:
        kind = payload.get("msg_type")
        if kind == "text":
            return payload["content"]["text"]
        if kind == "post":
            post = next(iter(payload["content"]["post"].values()))
            return "\n".join(["".join(t.get("text", "") for t in line)
                              for line in post["content"]])
        return payload["card"]["elements"][0]["text"]["content"]

    def handle(self, request: Request) -> tuple[int, dict[str, Any]]:
        prefix = "/open-apis/bot/v2/hook/"
        token = request.path[len(prefix):] if request.path.startswith(prefix) else ""
        if token not in self.bots:
            return self._answer(token, 400, 19001, {"code": 19001, "msg":
                                "param invalid: incoming webhook access token invalid"})
        raw = request.get_data()
        if len(raw) > self.max_body:
            return self._answer(token, 400, 19002, {"code": 19002, "msg": "body too large"})
        body = _json(request)
        if not isinstance(body, dict):
            return self._answer(token, 400, 9499, {"code": 9499, "msg": "Bad Request"})
        secret = self.bots[token]
        if secret:
            ts, sign = body.get("timestamp"), body.get("sign")
            try:
                skew = abs(int(self.clock.now().timestamp()) - int(ts))
            except (TypeError, ValueError):
                skew = 10**9
            key = f"{ts}\n{secret}".encode("utf-8")
            expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
            if skew > 3600 or sign != expected:
                return self._answer(token, 400, 19021, {"code": 19021, "msg":
                                    "sign match fail or timestamp is not within one hour "
                                    "from current time"})
        per_second = self._count("s:" + token, 1.0)
        if per_second >= self.per_second or self._count(token, 60.0) >= self.per_minute:
            return self._answer(token, 400, 9499, {"code": 9499, "msg": "too many request"})
        scripted = self._play_script(token)
        if scripted:
            return scripted
        if body.get("msg_type") not in ("text", "post", "interactive"):
            return self._answer(token, 400, 19002, {"code": 19002, "msg": "params error"})
        self._accept(token, request, body)
        return self._answer(token, 200, 0, {"StatusCode": 0, "StatusMessage": "success",
                                            "code": 0, "data": {}, "msg": "success"})


class WebhookReceiver(Receiver):
    """Any path; with `hmac_secret`, X-KEA-Signature must match (timestamp ± 5 min) → 401."""

    def __init__(self, clock: FakeClock, *, hmac_secret: str = "") -> None:
        super().__init__(clock)
        self.hmac_secret = hmac_secret

    def text_of(self, payload: Any) -> str:
        return payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)

    def handle(self, request: Request) -> tuple[int, dict[str, Any]]:
        raw = request.get_data()
        if self.hmac_secret:
            ts = request.headers.get("X-KEA-Timestamp", "")
            mac = hmac.new(self.hmac_secret.encode(), f"{ts}.".encode() + raw, hashlib.sha256)
            fresh = ts.isdigit() and abs(int(self.clock.now().timestamp()) - int(ts)) <= 300
            if not fresh or request.headers.get("X-KEA-Signature") != "sha256=" + mac.hexdigest():
                return self._answer(request.path, 401, 401, {"error": "bad signature"})
        self._count(request.path, 60.0)
        scripted = self._play_script(request.path)
        if scripted:
            return scripted
        body = _json(request)
        self._accept(request.path, request, body if body is not None else raw.decode("utf-8"))
        return self._answer(request.path, 200, 200, {"ok": True})
