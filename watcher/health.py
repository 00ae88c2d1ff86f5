"""`/metrics`, `/healthz` and `/readyz` on one small HTTP server.

healthz (liveness): every loop has heartbeat within its limit. A stuck pipeline or watcher
thread makes the kubelet restart the pod.
readyz (readiness): the initial lists are done, the rules are loaded, and Elasticsearch is
reachable or its spool is accepting documents.
Other routes (the silences API and link page) plug in as `apps`: each gets a `Request` and
answers a `Response`, or None when the path is not its own.
"""
from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Mapping, Optional, Sequence

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

log = logging.getLogger("kea.health")

Check = Callable[[], "tuple[bool, str]"]
MAX_BODY_BYTES = 64 * 1024


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    """Header names lower-cased."""
    body: bytes = b""


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str
    headers: Mapping[str, str] = field(default_factory=dict)


App = Callable[[Request], Optional[Response]]


class Health:
    def __init__(self) -> None:
        self.liveness: dict[str, Check] = {}
        self.readiness: dict[str, Check] = {}

    @staticmethod
    def evaluate(checks: dict[str, Check]) -> tuple[bool, dict[str, str]]:
        results, ok = {}, True
        for name, check in checks.items():
            try:
                passed, detail = check()
            except Exception as exc:  # a failing check is a failed check, not a crash
                passed, detail = False, f"check raised {exc.__class__.__name__}"
            ok &= passed
            results[name] = ("ok" if passed else "FAIL") + (f": {detail}" if detail else "")
        return ok, results


class StatusServer:
    def __init__(self, address: str, port: int, *, health: Health, registry, apps: Sequence[App] = ()) -> None:
        self.health, self.registry, self.apps = health, registry, tuple(apps)
        handler = _handler(self)
        self.httpd = ThreadingHTTPServer((address, port), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="status-http", daemon=True)

    def start(self) -> None:
        self._thread.start()
        log.info("serving /metrics, /healthz, /readyz on port %d", self.port)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _handler(server: StatusServer):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            path = self.path.split("?", 1)[0]
            if self._app("GET"):
                return
            if path == "/metrics":
                self._metrics()
            elif path in ("/healthz", "/livez"):
                self._checks(server.health.liveness)
            elif path == "/readyz":
                self._checks(server.health.readiness)
            else:
                self._send(404, b"not found\n", "text/plain")

        def do_POST(self) -> None:  # noqa: N802
            if not self._app("POST"):
                self._send(404, b"not found\n", "text/plain")

        def do_DELETE(self) -> None:  # noqa: N802
            if not self._app("DELETE"):
                self._send(404, b"not found\n", "text/plain")

        def _app(self, method: str) -> bool:
            """Hand the request to the first app that takes it; True when one answered."""
            if not server.apps:
                return False
            raw_length = self.headers.get("Content-Length") or "0" if method != "GET" else "0"
            length = int(raw_length) if raw_length.isdigit() else -1
            if not 0 <= length <= MAX_BODY_BYTES:
                self._send(413 if length > 0 else 400, b"bad or too large request body\n", "text/plain")
                return True
            path, _, query = self.path.partition("?")
            request = Request(method, path, query, {k.lower(): v for k, v in self.headers.items()},
                              self.rfile.read(length) if length else b"")
            for app in server.apps:
                try:
                    response = app(request)
                except Exception:  # one bad request must not take the status server with it
                    log.exception("%s %s failed", method, path)
                    response = Response(500, b"internal error\n", "text/plain")
                if response is not None:
                    self._send(response.status, response.body, response.content_type, response.headers)
                    return True
            return False

        def _checks(self, checks) -> None:
            ok, results = Health.evaluate(checks)
            body = json.dumps({"status": "ok" if ok else "fail", "checks": results}, indent=1).encode()
            self._send(200 if ok else 503, body, "application/json")

        def _metrics(self) -> None:
            try:
                body = generate_latest(server.registry)
            except Exception:  # a collector's bug: say so, and keep the probes answering
                log.exception("collecting /metrics failed")
                self._send(500, b"collecting metrics failed; see the daemon's log\n", "text/plain")
                return
            self._send(200, body, CONTENT_TYPE_LATEST)

        def _send(self, code: int, body: bytes, ctype: str, headers: Mapping[str, str] | None = None) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt: str, *args) -> None:  # probes every few seconds: keep quiet
            # the query is left out: the silence link carries its signed token there
            log.debug("%s %s", self.address_string(), _without_query(fmt % args, getattr(self, "path", "")))

    return Handler


def _without_query(line: str, path: str) -> str:
    return line.replace(path, path.split("?", 1)[0]) if "?" in path else line
