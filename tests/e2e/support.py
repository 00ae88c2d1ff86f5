"""Shared by the end-to-end tests: waiting on a condition, reading the status server."""
import time
import urllib.error
import urllib.request

KEY = "wk-e2e-5a4b3c2d1e0f"


def wait_for(check, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:
        return None, ""


class Daemon:
    """One replica of the daemon as a user runs it (`run -c config.yaml`), on one data_dir,
    watching one namespace of a real apiserver, sending to one WeCom robot."""

    def __init__(self, tmp_path, cluster, ns, wecom, *, rules: str, name: str = "e2e", extra: str = ""):
        import sys as _sys

        from tests.notifiers.receivers import free_port

        self.python, self.port, self.tmp = _sys.executable, free_port(), tmp_path
        rules_file = tmp_path / "rules.yaml"
        rules_file.write_text(rules)
        self.cfg = tmp_path / "config.yaml"
        self.cfg.write_text(f"""
cluster: {name}
data_dir: {tmp_path / 'data'}
metrics: {{address: 127.0.0.1, port: {self.port}}}
kubernetes:
  kubeconfig: {cluster.kubeconfig_path}
  namespaces: [{ns}]
  leader_election: {{enabled: false}}
rules: {{paths: ["{rules_file}"]}}
notifiers:
  ops: {{type: wecom, url: "{wecom.base}/cgi-bin/webhook/send?key={KEY}"}}
routing: {{default: [ops]}}
{extra}""")
        self.log = tmp_path / "daemon.log"
        self.proc = None

    def start(self, *, wait_ready: bool = True) -> "Daemon":
        import os
        import subprocess
        from pathlib import Path

        repo = Path(__file__).resolve().parents[2]
        self.proc = subprocess.Popen([self.python, "-m", "watcher.cli", "run", "-c", str(self.cfg)], cwd=repo,
                                     env=dict(os.environ), stdout=open(self.log, "a"), stderr=subprocess.STDOUT)
        if wait_ready:
            wait_for(lambda: get(f"http://127.0.0.1:{self.port}/readyz")[0] == 200, timeout=60, what="/readyz")
        return self

    def restart(self) -> "Daemon":
        """SIGTERM and start again on the same data_dir, as a rolling update of the alerter does."""
        self.stop()
        return self.start()

    def metric(self, text: str) -> bool:
        return text in get(f"http://127.0.0.1:{self.port}/metrics")[1]

    def stop(self, sig=None) -> None:
        import signal

        sig = sig or signal.SIGTERM
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=40)
        assert code == (0 if sig == signal.SIGTERM else -signal.SIGKILL)

    def kill(self) -> None:
        import signal

        self.stop(signal.SIGKILL)

    def clean_log(self) -> bool:
        return "Traceback" not in self.log.read_text()
