"""A real kube-apiserver + etcd for tests, and helpers that act like the kubelet.

The binaries are built from the Go module proxy by tools/build-kube.sh (no Docker,
no release downloads). ``ControlPlane`` runs them on free loopback ports with the
flag set controller-runtime's envtest uses; no kubelet, scheduler or controllers
run, so tests write pod statuses, events and endpoints themselves with the
helpers below, the way those components would.

Helpers take an ``ApiClient`` (or a typed API such as ``CoreV1Api``) only for its
connection settings and talk plain JSON over urllib3: bodies are dicts, results
are dicts, errors are ``kubernetes.client.ApiException``. That keeps them
independent of the generated client's models, which change between releases.
"""

from __future__ import annotations

import base64
import ctypes
import datetime as _dt
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Any, Iterable, Sequence

import pytest
import urllib3

from tests.harness import unavailable

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "tools" / "build-kube.sh"
FIELD_MANAGER = "kea-tests"
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"


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


# ---------------------------------------------------------------- plain JSON access

_pools: dict[tuple, urllib3.PoolManager] = {}


def connection(api) -> tuple[str, urllib3.PoolManager, dict]:
    """(host, urllib3 pool, auth headers) from an ApiClient's or typed API's configuration,
    for raw calls such as streaming a watch."""
    cfg = getattr(api, "api_client", api).configuration
    key = (cfg.ssl_ca_cert, cfg.verify_ssl, cfg.cert_file, cfg.key_file)
    if key not in _pools:
        kw: dict[str, Any] = {"cert_file": cfg.cert_file, "key_file": cfg.key_file}
        if cfg.verify_ssl:
            kw.update(cert_reqs=ssl.CERT_REQUIRED, ca_certs=cfg.ssl_ca_cert)
        else:
            kw.update(cert_reqs=ssl.CERT_NONE, assert_hostname=False)
        _pools[key] = urllib3.PoolManager(retries=False, **kw)
    headers = {s["key"]: s["value"] for s in cfg.auth_settings().values() if s["in"] == "header"}
    return cfg.host.rstrip("/"), _pools[key], headers


def request(api, method: str, path: str, body: Any = None, *, query: dict | None = None,
            content_type: str = "application/json", timeout: float = 30.0) -> dict:
    """One API call; returns the decoded JSON, raises ``ApiException`` unless 2xx."""
    from kubernetes.client import ApiException

    host, http, headers = connection(api)
    url = host + path + ("?" + urllib.parse.urlencode(query) if query else "")
    headers = {**headers, "Accept": "application/json"}
    data = None
    if body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), content_type
    r = http.request(method, url, body=data, headers=headers, timeout=timeout)
    if not 200 <= r.status < 300:
        raise ApiException(http_resp=r)
    return json.loads(r.data) if r.data else {}


def _apply(api, path: str, body: dict) -> dict:
    """Server-side apply: create or update in one call (JSON is valid YAML)."""
    return request(api, "PATCH", path, body, content_type="application/apply-patch+yaml",
                   query={"fieldManager": FIELD_MANAGER, "force": "true"})


def now() -> str:
    """A timestamp as the API serializes metav1.Time (RFC 3339, seconds)."""
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- kubelet/controller stand-ins


def create_namespace(api, name: str | None = None) -> str:
    name = name or f"t-{secrets.token_hex(4)}"
    request(api, "POST", "/api/v1/namespaces", {"metadata": {"name": name}})
    return name


def create_pod(api, ns: str, name: str, containers: Iterable[str | dict] = ("app",), *,
               labels: dict | None = None, owner_rs: str | dict | None = None,
               node_name: str | None = None) -> dict:
    """Create a pod. ``containers``: names (pause image) or full container dicts.
    ``owner_rs``: a ReplicaSet name (a made-up uid; no garbage collector runs) or a
    dict with name/uid. ``node_name`` sets spec.nodeName as the scheduler would
    (it can only be set at create time)."""
    spec: dict[str, Any] = {"containers": [
        c if isinstance(c, dict) else {"name": c, "image": PAUSE_IMAGE} for c in containers]}
    if node_name:
        spec["nodeName"] = node_name
    meta: dict[str, Any] = {"name": name, "labels": dict(labels or {})}
    if owner_rs:
        rs = owner_rs if isinstance(owner_rs, dict) else {"name": owner_rs}
        meta["ownerReferences"] = [{
            "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs["name"],
            "uid": rs.get("uid") or str(uuid.uuid5(uuid.NAMESPACE_URL, f"rs/{ns}/{rs['name']}")),
            "controller": True, "blockOwnerDeletion": True}]
    return request(api, "POST", f"/api/v1/namespaces/{ns}/pods",
                   {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec})


def terminated(reason: str = "OOMKilled", exit_code: int = 137, *,
               started_at: str | None = None, finished_at: str | None = None) -> dict:
    """A container state ``{"terminated": ...}`` (default: OOM-killed)."""
    ts = now()
    return {"terminated": {"reason": reason, "exitCode": exit_code,
                           "startedAt": started_at or ts, "finishedAt": finished_at or ts}}


def container_status(name: str, *, ready: bool = True, restart_count: int = 0,
                     state: dict | None = None, last_state: dict | None = None,
                     image: str = PAUSE_IMAGE) -> dict:
    """A containerStatuses entry as the kubelet reports it; running unless ``state``."""
    return {"name": name, "ready": ready, "started": "running" in (state or {"running": 1}),
            "restartCount": restart_count, "image": image,
            "imageID": f"{image}@sha256:{'0' * 64}", "containerID": f"containerd://{name}",
            "state": state or {"running": {"startedAt": now()}},
            "lastState": last_state or {}}


def patch_pod_status(api, ns: str, name: str, *, container_statuses: list[dict] | None = None,
                     pod_ip: str | None = None, host_ip: str | None = None,
                     phase: str | None = "Running", conditions: list[dict] | None = None) -> dict:
    """Write pod status like the kubelet (status subresource, JSON merge patch: the
    lists given replace the old ones)."""
    status: dict[str, Any] = {}
    if phase:
        status["phase"] = phase
    if container_statuses is not None:
        status["containerStatuses"] = container_statuses
    if conditions is not None:
        status["conditions"] = conditions
    if pod_ip:
        status.update(podIP=pod_ip, podIPs=[{"ip": pod_ip}])
    if host_ip:
        status.update(hostIP=host_ip, hostIPs=[{"ip": host_ip}])
    return request(api, "PATCH", f"/api/v1/namespaces/{ns}/pods/{name}/status",
                   {"status": status}, content_type="application/merge-patch+json")


def object_ref(obj: dict) -> dict:
    """An involvedObject reference from an object dict (or a reference, returned as is)."""
    if "metadata" not in obj:
        return obj
    m = obj["metadata"]
    ref = {"apiVersion": obj.get("apiVersion", "v1"), "kind": obj.get("kind", "Pod"),
           "name": m["name"], "namespace": m.get("namespace"), "uid": m.get("uid"),
           "resourceVersion": m.get("resourceVersion")}
    return {k: v for k, v in ref.items() if v}


def create_event(api, ns: str, involved_object: dict, reason: str, type: str = "Normal",
                 message: str = "", count: int = 1, *, name: str | None = None,
                 component: str = "kubelet", host: str | None = None,
                 first_timestamp: str | None = None, last_timestamp: str | None = None) -> dict:
    """Create a core/v1 Event as client-go's legacy recorder does (named
    ``<object>.<hex>``, with source, count and first/last timestamps)."""
    ref = object_ref(involved_object)
    ts = now()
    source = {"component": component, **({"host": host} if host else {})}
    body = {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": name or f"{ref['name']}.{secrets.token_hex(8)}", "namespace": ns},
        "involvedObject": ref, "reason": reason, "type": type, "message": message,
        "count": count, "source": source, "reportingComponent": component,
        "reportingInstance": host or "",
        "firstTimestamp": first_timestamp or ts, "lastTimestamp": last_timestamp or ts,
    }
    return request(api, "POST", f"/api/v1/namespaces/{ns}/events", body)


def bump_event(api, ns: str, name: str, *, message: str | None = None,
               last_timestamp: str | None = None) -> dict:
    """Record a repeat of an event as the recorder does: PATCH count+1, new lastTimestamp."""
    ev = request(api, "GET", f"/api/v1/namespaces/{ns}/events/{name}")
    patch: dict[str, Any] = {"count": int(ev.get("count") or 1) + 1,
                             "lastTimestamp": last_timestamp or now()}
    if message is not None:
        patch["message"] = message
    return request(api, "PATCH", f"/api/v1/namespaces/{ns}/events/{name}", patch,
                   content_type="application/strategic-merge-patch+json")


def _endpoints(endpoints: Iterable[tuple]) -> list[tuple[str, bool, Any, Any]]:
    """Normalize (ip[, ready[, node[, pod_name]]]) tuples: ready defaults to True."""
    defaults = (None, True, None, None)
    out = []
    for e in endpoints:
        ip, ready, node, pod = tuple(e) + defaults[len(e):]
        out.append((ip, bool(ready), node, pod))
    return out


def _target(ns: str, pod: str | None) -> dict:
    return {"targetRef": {"kind": "Pod", "namespace": ns, "name": pod}} if pod else {}


def apply_endpointslice(api, ns: str, service: str, endpoints: Iterable[tuple] = (), *,
                        name: str | None = None, port: int = 80, port_name: str = "http") -> dict:
    """Create or replace a discovery.k8s.io/v1 EndpointSlice of ``service`` like the
    EndpointSlice controller. ``endpoints``: (ip, ready, node, pod_name) tuples; the
    tail may be left off (ready=True, no node, no pod)."""
    eps = _endpoints(endpoints)
    name = name or service
    family = "IPv6" if any(":" in ip for ip, *_ in eps) else "IPv4"
    body = {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": name, "namespace": ns, "labels": {
            "kubernetes.io/service-name": service,
            "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
        "addressType": family,
        "ports": [{"name": port_name, "port": port, "protocol": "TCP"}],
        "endpoints": [
            {"addresses": [ip], "conditions": {"ready": ready, "serving": ready,
                                               "terminating": False},
             **({"nodeName": node} if node else {}), **_target(ns, pod)}
            for ip, ready, node, pod in eps],
    }
    return _apply(api, f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices/{name}", body)


def apply_endpoints(api, ns: str, service: str, endpoints: Iterable[tuple] = (), *,
                    port: int = 80, port_name: str = "http") -> dict:
    """Create or replace the core/v1 Endpoints of ``service`` (deprecated API, still
    served): ready addresses vs notReadyAddresses, as the endpoints controller writes."""
    eps = _endpoints(endpoints)

    def addr(ip, node, pod):
        return {"ip": ip, **({"nodeName": node} if node else {}), **_target(ns, pod)}

    subset: dict[str, Any] = {"ports": [{"name": port_name, "port": port, "protocol": "TCP"}]}
    ready = [addr(ip, n, p) for ip, r, n, p in eps if r]
    not_ready = [addr(ip, n, p) for ip, r, n, p in eps if not r]
    if ready:
        subset["addresses"] = ready
    if not_ready:
        subset["notReadyAddresses"] = not_ready
    body = {"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": service, "namespace": ns},
            "subsets": [subset] if eps else []}
    return _apply(api, f"/api/v1/namespaces/{ns}/endpoints/{service}", body)


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
