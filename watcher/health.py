"""`/metrics`, `/healthz` and `/readyz` on one small HTTP server.

healthz (liveness): every loop has heartbeat within its limit. A stuck pipeline or watcher
thread makes the kubelet restart the pod.
readyz (readiness): the initial lists are done, the rules are loaded, and Elasticsearch is
reachable or its spool is accepting documents.
"""
from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

log = logging.getLogger("kea.health")

Check = Callable[[], "tuple[bool, str]"]


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
    def __init__(self, address: str, port: int, *, health: Health, registry) -> None:
        self.health, self.registry = health, registry
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
            if path == "/metrics":
                self._send(200, generate_latest(server.registry), CONTENT_TYPE_LATEST)
            elif path in ("/healthz", "/livez"):
                self._checks(server.health.liveness)
            elif path == "/readyz":
                self._checks(server.health.readiness)
            else:
                self._send(404, b"not found\n", "text/plain")

        def _checks(self, checks) -> None:
            ok, results = Health.evaluate(checks)
            body = json.dumps({"status": "ok" if ok else "fail", "checks": results}, indent=1).encode()
            self._send(200 if ok else 503, body, "application/json")

        def _send(self, code: int, body: bytes, ctype: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt: str, *args) -> None:  # probes every few seconds: keep quiet
            log.debug("%s %s", self.address_string(), fmt % args)

    return Handler
