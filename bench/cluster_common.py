"""Shared by the bench/cluster_*.py benchmarks: the daemon as a user runs it against the kwok
cluster of tests/harness/cluster.py, its resident memory and CPU from /proc, Events written
in bulk, and the machine line every figure is printed with.

Benchmarks print figures; nothing here asserts a time.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.harness.kube import connection  # noqa: E402

KEY = "wk-bench-0123456789"
TICK = os.sysconf("SC_CLK_TCK")


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0]
    return (f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
            f"load average {load:.1f} at start")


class RealClock:
    """The receivers' clock interface on real time (their default clock is a fake one)."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def http_get(url: str) -> tuple[int | None, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ""
    except OSError:
        return None, ""


def metric_sum(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels`` (Prometheus text)."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            total += float(value)
    return total


class Daemon:
    """``python -m watcher.cli run -c cfg`` on a kubeconfig, cluster-wide unless namespaces;
    alerts of rules without ``notify`` go to ``default`` (the first notifier if not given)."""

    def __init__(self, workdir: Path, kubeconfig: Path, notifiers: dict[str, str], *,
                 rules: str = "", namespaces: list[str] | None = None, extra: str = "",
                 default: list[str] | None = None):
        from tests.notifiers.receivers import free_port

        self.dir = workdir
        self.port = free_port()
        rules_file = workdir / "rules.yaml"
        rules_file.write_text(rules or "rules: []\n")
        robots = "\n".join(f"  {name}: {{type: wecom, url: \"{url}\"}}" for name, url in notifiers.items())
        (workdir / "config.yaml").write_text(f"""
cluster: bench
data_dir: {workdir / 'data'}
metrics: {{address: 127.0.0.1, port: {self.port}}}
kubernetes:
  kubeconfig: {kubeconfig}
  namespaces: {json.dumps(namespaces or [])}
  leader_election: {{enabled: false}}
rules: {{paths: ["{rules_file}"]}}
notifiers:
{robots}
routing: {{default: {json.dumps(default or list(notifiers)[:1])}}}
{extra}""")
        self.log = workdir / "daemon.log"
        self.proc: subprocess.Popen | None = None
        self.started = 0.0

    def start(self) -> "Daemon":
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "watcher.cli", "run", "-c", str(self.dir / "config.yaml")],
            # Not the checkout as cwd: the interpreter's installed package runs (a wheel's
            # compiled normaliser, or the checkout through an editable install).
            cwd=self.dir, env=dict(os.environ), stdout=open(self.log, "a"), stderr=subprocess.STDOUT)
        return self

    def wait_ready(self, timeout: float = 600.0, sampler: "Sampler | None" = None) -> float:
        """Seconds from start() to /readyz answering 200."""
        deadline = self.started + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited {self.proc.returncode}; see {self.log}")
            if http_get(f"http://127.0.0.1:{self.port}/readyz")[0] == 200:
                return time.monotonic() - self.started
            time.sleep(0.1)
        raise RuntimeError(f"daemon not ready after {timeout:.0f}s; see {self.log}")

    def metrics(self) -> str:
        return http_get(f"http://127.0.0.1:{self.port}/metrics")[1]

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def rss_mib(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of ``pid`` in MiB: now and the peak so far."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields.get("VmRSS", 0.0), fields.get("VmHWM", 0.0)


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (its threads included)."""
    parts = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / TICK


class Sampler(threading.Thread):
    """Samples a process's RSS every ``every`` seconds (the kernel's VmHWM gives the peak)."""

    def __init__(self, pid: int, every: float = 0.5):
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append((time.monotonic(), rss_mib(self.pid)[0]))
            except OSError:
                return
            self._stop.wait(self.every)

    def stop(self) -> None:
        self._stop.set()


def event_body(ns: str, pod: str, i: int) -> dict:
    """A core/v1 Event the way a kubelet writes one (mostly Normal, some Warnings)."""
    ts = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    reason, kind = (("BackOff", "Warning") if i % 10 == 0 else
                    ("Unhealthy", "Warning") if i % 10 == 1 else ("Pulled", "Normal"))
    return {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": f"{pod}.b{i:08x}", "namespace": ns},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": pod, "namespace": ns},
        "reason": reason, "type": kind, "count": 1,
        "message": f"bench event {i}: container image \"registry.example/app:1\" already present",
        "source": {"component": "kubelet", "host": "kwok-node-0"},
        "firstTimestamp": ts, "lastTimestamp": ts, "reportingComponent": "kubelet",
    }


def write_events(api, targets: list[tuple[str, str]], n: int, *, start: int = 0,
                 rate: float = 0.0, threads: int = 8) -> float:
    """POST ``n`` Events about ``targets`` (namespace, pod), round robin, from ``threads``
    connections, paced to ``rate``/s if given. Returns the events/s achieved."""
    host, http, headers = connection(api)
    headers = {**headers, "Content-Type": "application/json", "Accept": "application/json"}
    t0 = time.monotonic()

    def post(i: int) -> None:
        if rate:
            delay = t0 + (i - start) / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        ns, pod = targets[i % len(targets)]
        body = json.dumps(event_body(ns, pod, i)).encode()
        for _ in range(5):
            r = http.request("POST", f"{host}/api/v1/namespaces/{ns}/events", body=body,
                             headers=headers, timeout=30.0)
            if r.status in (201, 409):
                return
            time.sleep(0.2)
        raise RuntimeError(f"event POST: HTTP {r.status}: {r.data[:300]!r}")

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(post, range(start, start + n), chunksize=64))
    return n / (time.monotonic() - t0)


def count(api, path: str) -> int:
    """How many objects a LIST would return, from one item and remainingItemCount."""
    from tests.harness.kube import request

    page = request(api, "GET", path, query={"limit": "1"})
    return len(page["items"]) + int(page["metadata"].get("remainingItemCount") or 0)
