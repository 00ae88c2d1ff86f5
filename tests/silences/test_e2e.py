"""Silences end to end: the daemon run as a user runs it (`run -c config.yaml`, a subprocess)
against the real apiserver and the real Elasticsearch node, one WeCom robot.

1. A silence made through the API during an outage: nothing is sent, the history records the
   firing `silenced` with the silence id; expiring it while the service is still unhealthy
   sends the firing; the recovery then goes out too (its firing was sent).
2. Two replicas: a silence made through the leader's API holds on the other replica after the
   leader is killed and the other takes over, and it can be expired through the new leader.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.e2e.support import KEY, get, wait_for
from tests.es.helpers import polled_hits
from tests.harness.kube import apply_endpointslice
from tests.notifiers.receivers import FakeClock, WeComReceiver, free_port

REPO = Path(__file__).resolve().parents[2]
TOKEN = "kea-e2e-api-3c9b7a1d5e2f4068"
RULE = ("name: endpoints-unhealthy\nsource: endpoints\ndetector: endpoints_unhealthy\nseverity: critical\n"
        "group_by: [namespace, service]\nfor: 1s\n")
pytestmark = [pytest.mark.kube, pytest.mark.es, pytest.mark.slow]


@pytest.fixture
def wecom():
    rx = WeComReceiver(FakeClock(datetime.now(timezone.utc)), keys=(KEY,)).start()
    yield rx
    rx.stop()


class Replica:
    def __init__(self, tmp_path: Path, cp, ns: str, es_url: str, prefix: str, wecom, identity: str) -> None:
        self.identity, self.port, root = identity, free_port(), tmp_path / identity
        root.mkdir(parents=True)
        (root / "rules.yaml").write_text(RULE)
        self.cfg, self.log = root / "config.yaml", root / "daemon.log"
        self.cfg.write_text(f"""
cluster: e2e
data_dir: {root / 'data'}
metrics: {{address: 127.0.0.1, port: {self.port}}}
kubernetes:
  kubeconfig: {cp.kubeconfig_path}
  namespaces: [{ns}]
  leader_election: {{enabled: true, lease_namespace: {ns}, identity: {identity},
                     lease_duration: 4s, renew_deadline: 3s, retry_period: 0.5s}}
rules: {{paths: ["{root / 'rules.yaml'}"], builtins: false}}
elasticsearch: {{enabled: true, hosts: ["{es_url}"], index_prefix: {prefix}, bulk: {{flush_interval: 0.2s}}}}
silences: {{refresh_interval: 0.5s}}
notifiers:
  ops: {{type: wecom, url: "{wecom.base}/cgi-bin/webhook/send?key={KEY}"}}
routing: {{default: [ops]}}
""")
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Replica":
        env = {**os.environ, "KEA_API_TOKEN": TOKEN}
        self.proc = subprocess.Popen([sys.executable, "-m", "watcher.cli", "run", "-c", str(self.cfg)], cwd=REPO,
                                     env=env, stdout=open(self.log, "a"), stderr=subprocess.STDOUT)
        wait_for(lambda: get(self.url("/readyz"))[0] == 200, timeout=60, what=f"{self.identity} ready")
        return self

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def metric(self, line: str) -> bool:
        return line in get(self.url("/metrics"))[1]

    def api(self, method: str, tail: str = "", body: dict | None = None) -> dict:
        req = urllib.request.Request(self.url(f"/api/v1/silences{tail}"), method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=40)


def ready(n_ready: int, n: int = 2) -> list[tuple]:
    return [(f"10.9.0.{i + 1}", i < n_ready, f"node-{i}", f"pod-{i}") for i in range(n)]


def history(es, prefix: str, result: str) -> list[dict]:
    return polled_hits(es, f"{prefix}-alerts", {"term": {"result": result}})


SILENCED = 'kea_notifications_total{notifier="ops",platform="wecom",result="silenced"} 1.0'


def firings(wecom) -> int:
    return sum("【告警】" in t for t in wecom.texts())


def test_silenced_during_an_outage_then_expired_while_still_firing(
        tmp_path, kube_control_plane, kube_namespace, es_node, es_client, es_prefix, wecom) -> None:
    cp, ns, prefix = kube_control_plane, kube_namespace, es_prefix.rstrip("-")
    with cp.api_client() as kube:
        apply_endpointslice(kube, ns, "web", ready(2))
        d = Replica(tmp_path, cp, ns, es_node.url, prefix, wecom, "replica-a").start()
        try:
            wait_for(lambda: d.metric("kea_leader 1.0"), timeout=30, what="the Lease")
            made = d.api("POST", body={"matchers": [f"namespace={ns}", "rule=endpoints-unhealthy"], "duration": "1h",
                                       "created_by": "li", "comment": "扩容中"})
            apply_endpointslice(kube, ns, "web", ready(1))  # the outage
            wait_for(lambda: d.metric(SILENCED), timeout=60, what="the firing reported silenced")
            wait_for(lambda: [h["code"] for h in history(es_client, prefix, "silenced")] == [made["id"]],
                     timeout=30, what="the silenced firing in the history, with the silence id")
            assert wecom.accepted == []
            d.api("DELETE", f"/{made['id']}")  # expired while the service is still unhealthy
            wait_for(lambda: firings(wecom) == 1, timeout=90, what="the firing after the expiry")
            apply_endpointslice(kube, ns, "web", ready(2))
            wait_for(lambda: any("【恢复】" in t for t in wecom.texts()), timeout=60, what="the recovery")
            assert firings(wecom) == 1
        finally:
            d.stop()
    assert "Traceback" not in d.log.read_text() and TOKEN not in d.log.read_text()


def test_a_silence_made_on_one_replica_holds_on_the_other_after_failover(
        tmp_path, kube_control_plane, kube_namespace, es_node, es_client, es_prefix, wecom) -> None:
    cp, ns, prefix = kube_control_plane, kube_namespace, es_prefix.rstrip("-")
    with cp.api_client() as kube:
        apply_endpointslice(kube, ns, "web", ready(2))
        a = Replica(tmp_path, cp, ns, es_node.url, prefix, wecom, "replica-a").start()
        b = None
        try:
            wait_for(lambda: a.metric("kea_leader 1.0"), timeout=30, what="a to lead")
            b = Replica(tmp_path, cp, ns, es_node.url, prefix, wecom, "replica-b").start()
            made = a.api("POST", body={"matchers": [f"namespace={ns}"], "duration": "1h", "created_by": "li",
                                       "comment": "maintenance"})
            wait_for(lambda: [s["id"] for s in b.api("GET")["silences"]] == [made["id"]], timeout=20,
                     what="the silence listed by b")
            a.stop(signal.SIGKILL)
            wait_for(lambda: b.metric("kea_leader 1.0"), timeout=30, what="b to take over")
            apply_endpointslice(kube, ns, "web", ready(1))
            wait_for(lambda: b.metric(SILENCED), timeout=60, what="b to silence the firing")
            assert wecom.accepted == []
            b.api("DELETE", f"/{made['id']}")
            wait_for(lambda: firings(wecom) == 1, timeout=90, what="the firing after the expiry on b")
        finally:
            a.stop()
            if b is not None:
                b.stop()
    assert "Traceback" not in b.log.read_text()
