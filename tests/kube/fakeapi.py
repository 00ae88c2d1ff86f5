"""A scripted HTTP server that answers LIST and WATCH requests the way kube-apiserver does on
the wire (JSON bodies, chunked watch streams, Status errors), for unit tests of the watch loop
that need exact control: torn chunks, cut connections, bookmarks, in-stream ERRORs, 429s.

Each LIST / WATCH request takes the next scripted `Reply` of its kind; a WATCH with nothing
scripted is held open (a quiet stream) until the server closes. Requests are recorded.
"""
from __future__ import annotations

import json
import queue
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional

from kubernetes import client


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    """A dict (JSON) for LISTs and errors."""
    chunks: list = field(default_factory=list)
    """WATCH: bytes written one HTTP chunk each; a float sleeps that long."""
    cut: bool = False
    """WATCH: drop the connection after the chunks, without the final chunk (a crash)."""
    headers: dict = field(default_factory=dict)


def line(typ: str, obj: dict) -> bytes:
    return json.dumps({"type": typ, "object": obj}).encode() + b"\n"


def pod(name: str, rv: int, *, uid: Optional[str] = None, ns: str = "ns", status: Any = None) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "uid": uid or f"uid-{name}", "resourceVersion": str(rv),
                         "labels": {"app": name}},
            "spec": {"containers": [{"name": "app"}]},
            "status": status if status is not None else {"phase": "Running", "containerStatuses": [
                {"name": "app", "ready": True, "restartCount": 0, "state": {"running": {}}}]}}


def pod_list(rv: int, *items: dict, cont: str = "") -> dict:
    meta = {"resourceVersion": str(rv)}
    if cont:
        meta["continue"] = cont
    return {"kind": "PodList", "apiVersion": "v1", "metadata": meta, "items": [
        {k: v for k, v in i.items() if k not in ("kind", "apiVersion")} for i in items]}


def bookmark(rv: int) -> bytes:
    return line("BOOKMARK", {"kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": str(rv)}})


def gone_status(message: str = "too old resource version: 5 (20)") -> dict:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": "Expired", "code": 410}


class FakeApi:
    def __init__(self) -> None:
        self.lists: "queue.Queue[Reply]" = queue.Queue()
        self.watches: "queue.Queue[Reply]" = queue.Queue()
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.auth: list[str] = []
        """The Authorization header of each request."""
        self.closed = threading.Event()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                api.requests.append((url.path, query))
                api.auth.append(self.headers.get("Authorization", ""))
                if query.get("watch") == "true":
                    api._watch(self)
                else:
                    api._list(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, name="fake-api", daemon=True).start()

    def api_client(self) -> client.ApiClient:
        return client.ApiClient(client.Configuration(host=self.url))

    def watch_requests(self) -> list[dict[str, str]]:
        return [q for _, q in self.requests if q.get("watch") == "true"]

    def list_requests(self) -> list[dict[str, str]]:
        return [q for _, q in self.requests if q.get("watch") != "true"]

    def close(self) -> None:
        self.closed.set()
        self.server.shutdown()
        self.server.server_close()

    # -- replies

    def _json(self, h: BaseHTTPRequestHandler, reply: Reply) -> None:
        data = json.dumps(reply.body if reply.body is not None else {}).encode()
        h.send_response(reply.status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        for k, v in reply.headers.items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)

    def _list(self, h: BaseHTTPRequestHandler) -> None:
        try:
            reply = self.lists.get(timeout=5)
        except queue.Empty:
            reply = Reply(500, {"kind": "Status", "code": 500, "message": "no LIST scripted"})
        self._json(h, reply)

    def _watch(self, h: BaseHTTPRequestHandler) -> None:
        try:
            reply = self.watches.get_nowait()
        except queue.Empty:
            reply = None
        if reply is not None and reply.status != 200:
            self._json(h, reply)
            return
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        try:
            if reply is None:  # nothing scripted: a quiet, open stream
                while not self.closed.wait(0.05):
                    pass
                return
            for chunk in reply.chunks:
                if isinstance(chunk, float):
                    time.sleep(chunk)
                    continue
                h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                h.wfile.flush()
            if reply.cut:
                h.close_connection = True
                return
            h.wfile.write(b"0\r\n\r\n")
            h.wfile.flush()
        except OSError:  # the client hung up
            h.close_connection = True
