"""A real single-node Elasticsearch 8.x for tests.

The node is the genuine ES server jar from Maven Central, started by a small launcher
(tools/es-node, built by tools/build-es-node.sh) with only the core server features plus
HTTP: no x-pack (security, ILM), no painless, no ingest processors, no reindex/_by_query,
no data-stream APIs. See tools/es-node/README.md.

``ElasticsearchNode`` owns one node process: a home dir (data, logs, node.log) and a fixed
HTTP port, so ``stop()``/``start()`` or ``restart()`` bring the same node back with its
data on the same URL. Fixtures: ``es_node`` (one per session), ``es_client`` (per test;
removes the indices and templates the test created) and ``es_prefix`` (unique index prefix).
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
import warnings
from pathlib import Path

import pytest

from tests.harness import unavailable

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "tools" / "build-es-node.sh"
POM = REPO / "tools" / "es-node" / "pom.xml"
ES_VERSION = re.search(r"<es\.version>([^<]+)</es\.version>", POM.read_text()).group(1)
log = logging.getLogger(__name__)


class EsUnavailable(RuntimeError):
    """The node can't be built or run here (no Java 17+, or nothing built and no Maven)."""


def launcher_path() -> Path:
    """Where tools/build-es-node.sh puts the launcher (KEA_CACHE_DIR replaces <repo>/.cache)."""
    cache = Path(os.environ.get("KEA_CACHE_DIR") or REPO / ".cache")
    return cache / "es-node" / ES_VERSION / "bin" / "es-node"


def _java() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and os.access(Path(home) / "bin" / "java", os.X_OK):
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


def ensure_launcher() -> Path:
    """Return the launcher, building it first when Maven is available (the build script is
    idempotent: a no-op when tools/es-node is unchanged). Raises EsUnavailable otherwise."""
    java = _java()
    if java is None:
        raise EsUnavailable("no `java` (17+) in PATH or JAVA_HOME: cannot run the Elasticsearch node")
    out = subprocess.run([java, "-XshowSettings:properties", "-version"], capture_output=True, text=True)
    m = re.search(r"java\.specification\.version = (\d+)", out.stderr)
    if not m or int(m.group(1)) < 17:
        raise EsUnavailable(f"{java} is not Java 17+ (needed by Elasticsearch {ES_VERSION})")
    launcher = launcher_path()
    if shutil.which("mvn") is None:
        if os.access(launcher, os.X_OK):
            return launcher
        raise EsUnavailable(f"{launcher} not built and no `mvn` in PATH to run {BUILD_SCRIPT}")
    proc = subprocess.run(["bash", str(BUILD_SCRIPT)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{BUILD_SCRIPT} failed ({proc.returncode}):\n{(proc.stdout + proc.stderr)[-4000:]}")
    return launcher


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _term_with_parent() -> None:
    """Run in the child: SIGTERM it (a graceful node close) if the test process dies first."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class ElasticsearchNode:
    """One ES node process on 127.0.0.1:``http_port`` with its data in ``home``.

    ``home`` and ``http_port`` stay fixed for the object's lifetime, so a stopped or killed
    node comes back by ``start()`` with its indices on the same ``url``.
    ``settings`` are extra ES node settings (``{"key": "value"}``), ``java_opts`` goes to
    ES_JAVA_OPTS (appended after the default ``-Xms256m -Xmx512m``).
    """

    START_MARK = "=== es-node harness: start ==="
    PROBE_TIMEOUT = 10.0  # one health probe; on a loaded 2-core machine a live node may take seconds
    UNREACHABLE_GRACE = 60.0  # how long a live process may not answer before ensure_running restarts it

    def __init__(self, home: str | os.PathLike, *, http_port: int | None = None,
                 settings: dict[str, str] | None = None, java_opts: str = "",
                 startup_timeout: float = 120.0, launcher: Path | None = None):
        self.home = Path(home).resolve()
        self.http_port = http_port or _free_port()
        self._port_given = http_port is not None
        self.settings = dict(settings or {})
        self.java_opts = java_opts
        self.startup_timeout = startup_timeout
        self.launcher = launcher
        self.log_path = self.home / "node.log"
        self._proc: subprocess.Popen | None = None
        self.startup_seconds: float | None = None  # of the latest start(), for diagnostics

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self.running else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> "ElasticsearchNode":
        """Start the node and wait until the cluster is at least yellow (shards recovered)."""
        if self.running:
            return self
        if self.launcher is None:
            self.launcher = ensure_launcher()
        for attempt in range(3):
            try:
                self._spawn()
                self._wait_ready()
                return self
            except RuntimeError as e:
                # a free port picked by us may be grabbed before the JVM binds it: pick another
                if self._port_given or attempt == 2 or "BindHttpException" not in str(e):
                    raise
                self.http_port = _free_port()
        raise AssertionError("unreachable")

    def stop(self, timeout: float = 30.0) -> None:
        """Graceful stop: SIGTERM (the launcher closes the node), SIGKILL after ``timeout``."""
        if not self.running:
            self._proc = None
            return
        self._proc.send_signal(signal.SIGTERM)
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        self._proc = None

    def kill(self) -> None:
        """SIGKILL, like a crash or OOM kill. Acknowledged writes survive (translog fsync per request)."""
        if self.running:
            self._proc.kill()
            self._proc.wait(30)
        self._proc = None

    def restart(self, *, kill: bool = False) -> "ElasticsearchNode":
        """Stop (or ``kill``) and start again: same home dir, same port, same data."""
        if kill:
            self.kill()
        else:
            self.stop()
        return self.start()

    def ensure_running(self) -> "ElasticsearchNode":
        """Start the node if a test left it stopped or it died; give a live one time to answer.

        A probe that fails on a loaded machine is not a dead node: probes are retried with
        backoff, and the node is restarted (same home, same port) only when its process is gone
        or has not answered at all for ``UNREACHABLE_GRACE`` seconds. A node that answers but is
        not yet yellow is waited for, never restarted (a restart would not help). Every
        restart is logged, here and in node.log."""
        started = last_answer = time.monotonic()
        delay = 0.2
        while True:
            if not self.running:
                code = self._proc.returncode if self._proc else None
                if self._proc is not None:
                    self._note(f"process exited ({code}): starting it again")
                return self.start()
            status = self._health(self.PROBE_TIMEOUT)
            if status in ("yellow", "green"):
                return self
            now = time.monotonic()
            if status is not None:
                last_answer = now
            elif now - last_answer >= self.UNREACHABLE_GRACE:
                self._note(f"pid {self.pid} alive but unreachable for {now - last_answer:.0f}s: restarting it")
                self.kill()
                return self.start()
            if now - started >= self.startup_timeout:
                raise RuntimeError(f"Elasticsearch node answers but is {status} after {now - started:.0f}s; "
                                   f"last lines of {self.log_path}:\n{self.log_tail()}")
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

    def log_tail(self, lines: int = 60) -> str:
        """The last ``lines`` lines the node logged since its latest start."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        text = text[text.rfind(self.START_MARK):] if self.START_MARK in text else text
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> "ElasticsearchNode":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- internals

    def _spawn(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        argv = [str(self.launcher), str(self.http_port), str(self.home)]
        argv += [f"{k}={v}" for k, v in self.settings.items()]
        env = dict(os.environ, ES_JAVA_OPTS=self.java_opts)
        with open(self.log_path, "a") as log:
            log.write(f"\n{self.START_MARK} {time.strftime('%Y-%m-%dT%H:%M:%S')} {argv}\n")
            log.flush()
            # own session: a Ctrl-C in pytest doesn't hit the node, teardown stops it
            self._proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                          env=env, start_new_session=True, preexec_fn=_term_with_parent)

    def _note(self, what: str) -> None:
        """Say what the harness did to the node: in the test's log and in node.log."""
        log.warning("Elasticsearch node %s: %s", self.url, what)
        try:
            with open(self.log_path, "a") as out:
                out.write(f"=== es-node harness: {time.strftime('%Y-%m-%dT%H:%M:%S')} {what}\n")
        except OSError:
            pass

    def _health(self, timeout: float) -> str | None:
        """The cluster status ("green", "yellow", "red", or "unavailable" while the node
        recovers), or None when the node does not answer at all (refused, timed out)."""
        url = f"{self.url}/_cluster/health?wait_for_status=yellow&timeout=1s"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                return str(json.load(resp).get("status"))
        except urllib.error.HTTPError as e:  # 408: not yellow within 1 s; 503: not recovered yet
            return "red" if e.code == 408 else "unavailable"
        except ValueError:  # an answer, if not JSON
            return "unavailable"
        except OSError:
            return None

    def _ready(self) -> bool:
        return self._health(5.0) in ("yellow", "green")

    def _wait_ready(self) -> None:
        t0 = time.monotonic()
        deadline = t0 + self.startup_timeout
        delay = 0.05
        while not self._ready():
            if not self.running:
                code = self._proc.returncode if self._proc else None
                self._proc = None
                raise RuntimeError(f"Elasticsearch node exited ({code}) during startup; "
                                   f"last lines of {self.log_path}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"Elasticsearch node not ready after {self.startup_timeout:.0f}s; "
                                   f"last lines of {self.log_path}:\n{self.log_tail()}")
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
        self.startup_seconds = time.monotonic() - t0


# -- pytest fixtures (import them into a test module or conftest.py)

@pytest.fixture(scope="session")
def es_node(tmp_path_factory):
    """The session's Elasticsearch node (started once; tests may stop/restart it)."""
    try:
        launcher = ensure_launcher()
    except EsUnavailable as e:
        unavailable(str(e))
    node = ElasticsearchNode(tmp_path_factory.mktemp("es-node"), launcher=launcher)
    node.start()
    yield node
    node.stop()


@pytest.fixture
def es_prefix() -> str:
    """A unique lowercase prefix for index/template/alias names of one test, e.g. ``t3f9a0c1d-``."""
    return f"t{uuid.uuid4().hex[:8]}-"


def _names(client) -> dict[str, set[str]]:
    return {
        "index": {r["index"] for r in client.cat.indices(h="index", expand_wildcards="all", format="json")},
        "index_template": {t["name"] for t in client.indices.get_index_template()["index_templates"]},
        "component_template": {t["name"] for t in client.cluster.get_component_template()["component_templates"]},
        "legacy_template": set(client.indices.get_template()),
    }


@pytest.fixture
def es_client(es_node):
    """An ``elasticsearch.Elasticsearch`` client for ``es_node``. Afterwards, deletes the indices
    (with their aliases) and index/component/legacy templates that appeared during the test."""
    try:
        from elasticsearch import Elasticsearch
    except ImportError:
        unavailable("python package elasticsearch>=8.13,<9 is not installed")
    es_node.ensure_running()
    client = Elasticsearch(es_node.url, request_timeout=30)
    before = _names(client)
    yield client
    es_node.ensure_running()  # the test may have stopped or killed it
    # one by one, tolerating refusals: e.g. data streams (no delete API on this node) pin their
    # backing indices and templates; whatever is left is reported, not raised
    lenient = client.options(ignore_status=(400, 404))
    left = []
    try:
        new = {kind: names - before[kind] for kind, names in _names(client).items()}
        deletes = [(lenient.indices.delete, {"index": n, "expand_wildcards": "all"}) for n in new["index"]]
        deletes += [(lenient.indices.delete_index_template, {"name": n}) for n in new["index_template"]]
        deletes += [(lenient.cluster.delete_component_template, {"name": n}) for n in new["component_template"]]
        deletes += [(lenient.indices.delete_template, {"name": n}) for n in new["legacy_template"]]
        for delete, kwargs in deletes:
            if delete(**kwargs).meta.status == 400:
                left.append(next(iter(kwargs.values())))
    except Exception as e:  # never turn a passing test into an error over cleanup
        left.append(repr(e))
    finally:
        client.close()
    if left:
        warnings.warn(f"es_client could not clean up: {left}")
