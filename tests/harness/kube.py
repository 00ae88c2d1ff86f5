"""A real kube-apiserver + etcd for tests.

The binaries are built from the Go module proxy by tools/build-kube.sh (no Docker,
no release downloads). ``ControlPlane`` runs them on free loopback ports with the
flag set controller-runtime's envtest uses; no kubelet, scheduler or controllers
run, so tests write pod statuses, events and endpoints themselves with the
stand-ins of tests/harness/standins.py, the way those components would, and talk
plain JSON to the apiserver (tests/harness/api.py). Both are importable from here too.
"""

from __future__ import annotations

import base64
import ctypes
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Sequence

import pytest
import urllib3

from tests.harness import unavailable
from tests.harness.api import FIELD_MANAGER, connection, now, request  # noqa: F401
from tests.harness.standins import (  # noqa: F401
    PAUSE_IMAGE,
    apply_endpoints,
    apply_endpointslice,
    bump_event,
    container_status,
    create_event,
    create_namespace,
    create_pod,
    object_ref,
    patch_pod_status,
    terminated,
)

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "tools" / "build-kube.sh"


def _pinned(gomod: Path, module: str) -> str:
    """The version ``module`` is required at in a wrapper go.mod (the one source of truth)."""
    m = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", gomod.read_text(), re.M)
    if not m:
        raise RuntimeError(f"{module} not pinned in {gomod}")
    return m.group(1)


KUBE_VERSION = _pinned(REPO / "tools/kube/apiserver/go.mod", "k8s.io/kubernetes")
ETCD_VERSION = _pinned(REPO / "tools/kube/etcd/go.mod", "go.etcd.io/etcd/server/v3")


class BinariesMissing(RuntimeError):
    """kube-apiserver/etcd are not built and cannot be built here (no Go)."""


def bin_dir() -> Path:
    """Where tools/build-kube.sh puts the binaries (KEA_CACHE_DIR replaces <repo>/.cache)."""
    cache = Path(os.environ.get("KEA_CACHE_DIR") or REPO / ".cache")
    return cache / "kube" / KUBE_VERSION / "bin"


def ensure_binaries() -> Path:
    """Return the bin dir, building first when Go is there (the script is idempotent and
    also rebuilds binaries of another version); without Go, use what is already built."""
    d = bin_dir()
    have = all(os.access(d / n, os.X_OK) for n in ("kube-apiserver", "etcd"))
    if shutil.which("go") is None:
        if have:
            return d
        raise BinariesMissing(f"no binaries in {d} and no `go` in PATH to run {BUILD_SCRIPT}")
    proc = subprocess.run(["bash", str(BUILD_SCRIPT)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{BUILD_SCRIPT} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return d


# ---------------------------------------------------------------- processes


def free_ports(n: int) -> list[int]:
    """n distinct free loopback ports (all held open until chosen, so no duplicates)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def wait_until(check, timeout: float = 60.0, what: str = "condition", interval: float = 0.05):
    """Poll ``check()`` until truthy and return its value; AssertionError naming ``what`` after
    ``timeout`` seconds. The one wait on a condition of the harness and of tests/kube."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def _die_with_parent() -> None:
    """Run in the child: SIGKILL it if the test process dies without tearing down."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _rsa_key_pem() -> bytes:
    """A fresh RSA key for signing service-account tokens (cryptography, else openssl)."""
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
    except ImportError:
        return subprocess.run(["openssl", "genrsa", "2048"], check=True,
                              capture_output=True).stdout
    return rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption())


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class Proc:
    """One child process in its own process group, logging to a file (a component of the
    control plane or of tests/harness/cluster.py)."""

    def __init__(self, name: str, argv: list[str], log: Path):
        self.name, self.log = name, log
        with open(log, "ab") as out:
            self.popen = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=_die_with_parent,
            )

    def alive(self) -> bool:
        return self.popen.poll() is None

    def failure(self, why: str) -> RuntimeError:
        return RuntimeError(f"{self.name} {why}; last lines of {self.log}:\n{_tail(self.log)}")

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the group (a graceful apiserver shutdown), SIGKILL it after ``grace``."""
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(self.popen.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue


def _probe_failed(e: Exception) -> bool:
    """A probe's failure that means "not up yet": refused, timed out, a torn answer, or an error
    status from a component still starting or busy (ApiException 5xx, 429, 401 before the
    token file is read). Anything else is a bug in the probe and is raised."""
    from kubernetes.client import ApiException

    if isinstance(e, ApiException):
        return e.status is None or e.status >= 500 or e.status in (401, 403, 429)
    return isinstance(e, (OSError, urllib3.exceptions.HTTPError, ValueError))


def wait_up(check, proc: Proc, what: str, timeout: float) -> None:
    """Poll ``check()`` until true, a failing probe counting as not yet; fail at once, with
    ``proc``'s log, if it exits, and with its log after ``timeout``."""
    def up() -> bool:
        if not proc.alive():
            raise proc.failure(f"exited with {proc.popen.returncode} before {what}")
        try:
            return bool(check())
        except Exception as e:
            if _probe_failed(e):
                return False
            raise

    try:
        wait_until(up, timeout, what, interval=0.1)
    except AssertionError:
        raise proc.failure(f"not {what} after {timeout:.0f}s") from None


class ControlPlane:
    """etcd + kube-apiserver on free loopback ports, in a temp dir removed on stop().

    ``watch_cache=False`` (the default) makes the apiserver serve watches straight from
    etcd, so after ``compact_etcd()`` a watch from an older resourceVersion reliably gets
    410 Gone. With the watch cache on (as in real clusters) the apiserver keeps answering
    from its cache window instead; restart it (``stop_apiserver``/``start_apiserver``) to
    drop that window.
    """

    def __init__(self, binaries: Path | None = None, *, watch_cache: bool = False,
                 start_timeout: float = 120.0, extra_apiserver_args: Sequence[str] = ()):
        self.bin = Path(binaries) if binaries else bin_dir()
        self.watch_cache = watch_cache
        self.start_timeout = start_timeout
        self.extra_apiserver_args = list(extra_apiserver_args)
        self.token = secrets.token_hex(16)
        self.dir: Path | None = None
        self._etcd: Proc | None = None
        self._apiserver: Proc | None = None
        self._http = urllib3.PoolManager(retries=False)
        self.etcd_url = self.url = ""
        self.port = 0

    # -- lifecycle
    def start(self) -> "ControlPlane":
        for name in ("etcd", "kube-apiserver"):
            if not os.access(self.bin / name, os.X_OK):
                raise BinariesMissing(f"{self.bin / name} missing; run {BUILD_SCRIPT}")
        self.dir = Path(tempfile.mkdtemp(prefix="kea-kube-"))
        try:
            self._write_files()
            self._start_etcd()
            self.start_apiserver()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Kill both processes and remove the temp dir; safe to call twice."""
        for proc in (self._apiserver, self._etcd):
            if proc:
                proc.stop(grace=5.0)
        self._apiserver = self._etcd = None
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self) -> "ControlPlane":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _write_files(self) -> None:
        assert self.dir
        (self.dir / "certs").mkdir()
        (self.dir / "sa.key").write_bytes(_rsa_key_pem())
        # token,user,uid,"groups": system:masters bypasses RBAC like a cluster admin.
        (self.dir / "tokens.csv").write_text(f'{self.token},kea-admin,kea-admin,"system:masters"\n')

    def _start_etcd(self) -> None:
        assert self.dir
        client, peer = free_ports(2)
        self.etcd_url = f"http://127.0.0.1:{client}"
        self._etcd = Proc("etcd", [
            str(self.bin / "etcd"), "--name=default", f"--data-dir={self.dir / 'etcd-data'}",
            f"--listen-client-urls={self.etcd_url}", f"--advertise-client-urls={self.etcd_url}",
            f"--listen-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-cluster=default=http://127.0.0.1:{peer}",
            "--unsafe-no-fsync", "--log-level=warn",
        ], self.dir / "etcd.log")

        def healthy() -> bool:
            r = self._http.request("GET", self.etcd_url + "/health", timeout=2.0)
            return r.status == 200 and json.loads(r.data).get("health") == "true"

        wait_up(healthy, self._etcd, "healthy", self.start_timeout)

    def start_apiserver(self) -> None:
        """(Re)start kube-apiserver against the running etcd, on the same port as before."""
        assert self.dir and self._etcd, "start() first"
        if self._apiserver and self._apiserver.alive():
            return
        if not self.port:
            (self.port,) = free_ports(1)
            self.url = f"https://127.0.0.1:{self.port}"
        sa_key = self.dir / "sa.key"
        self._apiserver = Proc("kube-apiserver", [
            str(self.bin / "kube-apiserver"),
            f"--etcd-servers={self.etcd_url}", f"--cert-dir={self.dir / 'certs'}",
            f"--secure-port={self.port}", "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1", "--service-cluster-ip-range=10.0.0.0/24",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-account-key-file={sa_key}", f"--service-account-signing-key-file={sa_key}",
            "--authorization-mode=RBAC", "--disable-admission-plugins=ServiceAccount",
            "--allow-privileged=true", f"--token-auth-file={self.dir / 'tokens.csv'}",
            f"--watch-cache={'true' if self.watch_cache else 'false'}",
            *self.extra_apiserver_args,
        ], self.dir / "apiserver.log")
        wait_up(self._ready, self._apiserver, "ready (/readyz)", self.start_timeout)
        self._write_kubeconfig()

    def stop_apiserver(self) -> None:
        """Stop kube-apiserver only (etcd and its data stay)."""
        if self._apiserver:
            self._apiserver.stop()
            self._apiserver = None

    def _ready(self) -> bool:
        if not self.ca_path.exists():  # the apiserver self-signs its certs at startup
            return False
        http = urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_certs=str(self.ca_path),
                                   retries=False)
        r = http.request("GET", self.url + "/readyz", timeout=2.0,
                         headers={"Authorization": f"Bearer {self.token}"})
        return r.status == 200

    # -- access
    @property
    def ca_path(self) -> Path:
        """The apiserver's self-signed serving cert chain (its CA included)."""
        assert self.dir
        return self.dir / "certs" / "apiserver.crt"

    @property
    def kubeconfig_path(self) -> Path:
        assert self.dir
        return self.dir / "kubeconfig"

    def _write_kubeconfig(self) -> None:
        ca = base64.b64encode(self.ca_path.read_bytes()).decode()
        cfg = {
            "apiVersion": "v1", "kind": "Config", "current-context": "kea",
            "clusters": [{"name": "kea", "cluster": {
                "server": self.url, "certificate-authority-data": ca}}],
            "users": [{"name": "kea-admin", "user": {"token": self.token}}],
            "contexts": [{"name": "kea", "context": {"cluster": "kea", "user": "kea-admin"}}],
        }
        self.kubeconfig_path.write_text(json.dumps(cfg, indent=1))  # JSON is YAML

    def api_client(self):
        """A new ``kubernetes.client.ApiClient`` for the admin token (close it when done)."""
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig_path))

    # -- etcd
    def _etcd_post(self, path: str, body: dict) -> dict:
        r = self._http.request("POST", self.etcd_url + path, body=json.dumps(body).encode(),
                               headers={"Content-Type": "application/json"}, timeout=10.0)
        if r.status != 200:
            raise RuntimeError(f"etcd {path}: HTTP {r.status}: {r.data[:500]!r}")
        return json.loads(r.data)

    def compact_etcd(self) -> int:
        """Compact etcd so every resourceVersion written so far is history; return the
        compaction revision. A watch resuming from an older resourceVersion then gets 410
        Gone (with the default watch_cache=False).

        It first writes a marker key outside /registry and compacts at that write: had it
        compacted at the last object write itself, a watch resuming just before it would
        start at the compaction revision, which etcd still serves, but without the
        previous value the apiserver needs (a 500, not a 410)."""
        marker = {"key": base64.b64encode(b"/kea-harness/compaction-marker").decode(),
                  "value": base64.b64encode(now().encode()).decode()}
        rev = int(self._etcd_post("/v3/kv/put", marker)["header"]["revision"])
        self._etcd_post("/v3/kv/compaction", {"revision": str(rev), "physical": True})
        return rev


# ---------------------------------------------------------------- pytest fixtures


@pytest.fixture(scope="session")
def kube_control_plane():
    """A running ControlPlane for the session. Builds the binaries if needed; without
    Go the tests are skipped, or failed when KEA_REQUIRE_REAL=1 (as in CI)."""
    try:
        binaries = ensure_binaries()
    except BinariesMissing as e:
        unavailable(f"kube-apiserver not built and Go not installed: {e}")
    with ControlPlane(binaries) as cp:
        yield cp


@pytest.fixture
def kube_namespace(kube_control_plane):
    """A fresh namespace ``t-<random>``. Deleted afterwards without waiting: no namespace
    controller runs, so it would stay Terminating forever."""
    with kube_control_plane.api_client() as api:
        ns = create_namespace(api)
        yield ns
        try:
            request(api, "DELETE", f"/api/v1/namespaces/{ns}")
        except Exception:
            pass
