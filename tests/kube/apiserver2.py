"""A second kube-apiserver on the ControlPlane's etcd: an HA control plane's other member.

The apiserver/410 tests stop the apiserver the watchers talk to and change the cluster
meanwhile; with a single apiserver nothing could change while it is down. Uses the
ControlPlane's token file and service-account key, so the same admin token works on both.
"""
from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client


class SecondApiserver:
    def __init__(self, cp: Any) -> None:
        self.cp = cp
        self.dir = Path(tempfile.mkdtemp(prefix="kea-apiserver2-"))
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.url = f"https://127.0.0.1:{self.port}"
        assert cp.dir is not None, "control plane not started"
        sa_key = cp.dir / "sa.key"
        self.log = self.dir / "apiserver.log"
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([
                str(cp.bin / "kube-apiserver"), f"--etcd-servers={cp.etcd_url}", f"--cert-dir={self.dir / 'certs'}",
                f"--secure-port={self.port}", "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
                "--service-cluster-ip-range=10.0.0.0/24", "--service-account-issuer=https://kubernetes.default.svc",
                f"--service-account-key-file={sa_key}", f"--service-account-signing-key-file={sa_key}",
                "--authorization-mode=RBAC", "--disable-admission-plugins=ServiceAccount", "--allow-privileged=true",
                f"--token-auth-file={cp.dir / 'tokens.csv'}", "--watch-cache=false",
            ], stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=_die_with_parent)
        try:
            self._wait_ready(120.0)
        except BaseException:
            self.stop()
            raise

    @property
    def ca(self) -> Path:
        return self.dir / "certs" / "apiserver.crt"

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"second apiserver exited: {self.log.read_text()[-2000:]}")
            if self.ca.exists():
                try:
                    http = urllib3.PoolManager(cert_reqs=ssl.CERT_REQUIRED, ca_certs=str(self.ca), retries=False)
                    r = http.request("GET", self.url + "/readyz", timeout=2.0,
                                     headers={"Authorization": f"Bearer {self.cp.token}"})
                    if r.status == 200:
                        return
                except (urllib3.exceptions.HTTPError, OSError):
                    pass
            time.sleep(0.2)
        raise RuntimeError("second apiserver not ready")

    def api_client(self) -> client.ApiClient:
        c = client.Configuration(host=self.url)
        c.ssl_ca_cert = str(self.ca)
        c.api_key = {"authorization": f"Bearer {self.cp.token}"}
        return client.ApiClient(c)

    def stop(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)
                self.proc.wait(10)
                break
            except (ProcessLookupError, subprocess.TimeoutExpired):
                continue
        shutil.rmtree(self.dir, ignore_errors=True)


def _die_with_parent() -> None:
    """In the child: SIGKILL it if pytest dies without tearing down (PR_SET_PDEATHSIG)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)
    except OSError:
        pass
