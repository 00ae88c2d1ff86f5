"""Two daemons as a user runs them (subprocesses, leader election on the real apiserver,
no Elasticsearch), one WeCom and one DingTalk robot with real time. 60 OOMKills while the
leader's DingTalk robot is blocked (130101): the leader delivers WeCom, its DingTalk backlog
waits. Then the leader is killed (SIGKILL) and its data_dir deleted, as when its pod goes:
the other replica must deliver all 60 to DingTalk and none of them to WeCom again. Finally
the old leader comes back with a restored data_dir (same pod, container restart): as a
follower it must not replay its outbox."""
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.e2e.support import KEY, get, wait_for
from tests.harness.kube import container_status, create_pod, patch_pod_status, request, terminated
from tests.notifiers.receivers import DingRobot, DingTalkReceiver, WeComReceiver, free_port
from watcher.alerting import inherited_delivered

REPO = Path(__file__).resolve().parents[2]
TOKEN, SECRET = "dt-e2e-failover-7a6b5c4d", "SECe2efailover0a1b2c3d4e5f"
N = 60
PODS = [f"fo-{i:02d}-x" for i in range(N)]
pytestmark = pytest.mark.kube


class RealClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def monotonic(self) -> float:
        return time.monotonic()


class Daemon:
    def __init__(self, tmp_path, cp, ns, identity, wecom, ding) -> None:
        self.identity, self.port = identity, free_port()
        self.data_dir = tmp_path / identity / "data"
        self.cfg = tmp_path / identity / "config.yaml"
        self.cfg.parent.mkdir(parents=True, exist_ok=True)
        self.log_path = tmp_path / identity / "daemon.log"
        self.cfg.write_text(f"""
cluster: e2e
data_dir: {self.data_dir}
metrics: {{address: 127.0.0.1, port: {self.port}}}
kubernetes:
  kubeconfig: {cp.kubeconfig_path}
  namespaces: [{ns}]
  leader_election: {{enabled: true, lease_namespace: {ns}, identity: {identity},
                     lease_duration: 4s, renew_deadline: 3s, retry_period: 0.5s}}
notifiers:
  wecom: {{type: wecom, url: "{wecom.base}/cgi-bin/webhook/send?key={KEY}"}}
  ding: {{type: dingtalk, url: "{ding.base}/robot/send?access_token={TOKEN}", secret: {SECRET}}}
routing: {{default: [wecom, ding]}}
""")
        self.proc = None

    def start(self) -> "Daemon":
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen([sys.executable, "-m", "watcher.cli", "run", "-c", str(self.cfg)], cwd=REPO,
                                     env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT)
        wait_for(lambda: get(self.url("/readyz"))[0] == 200 and "3/3 listed" in get(self.url("/readyz"))[1],
                 timeout=60, what=f"{self.identity} ready, every watcher listed")
        return self

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def metric(self, name: str):
        status, text = get(self.url("/metrics"))
        if status != 200:
            return None
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None

    def stop(self, sig=signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=40)


def counts(rx) -> list[int]:
    texts = rx.texts()
    return [sum(t.count(p) for t in texts) for p in PODS]


def lease(api, ns) -> dict:
    return request(api, "GET", f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/kube-event-alerter")


def test_dead_leaders_backlog_reaches_every_robot_once_and_the_old_leader_does_not_replay(
        tmp_path, kube_control_plane, kube_namespace):
    cp, ns = kube_control_plane, kube_namespace
    api = cp.api_client()
    wecom = WeComReceiver(RealClock(), keys=(KEY,)).start()
    ding = DingTalkReceiver(RealClock(), robots={TOKEN: DingRobot(SECRET)}).start()
    with ding.lock:
        ding.blocked_until[TOKEN] = time.monotonic() + 86400  # someone else sent too fast
    a = Daemon(tmp_path, cp, ns, "replica-a", wecom, ding)
    b = Daemon(tmp_path, cp, ns, "replica-b", wecom, ding)
    try:
        for name in PODS:
            create_pod(api, ns, name, owner_rs="web-7c9f8d6b5")  # workload "web": the pod name shows once
        a.start()
        wait_for(lambda: a.metric("kea_leader") == 1.0, timeout=30, what="a to lead")
        b.start()
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        for name in PODS:
            patch_pod_status(api, ns, name, container_statuses=[container_status(
                "app", restart_count=1, last_state=terminated("OOMKilled", 137, finished_at=stamp))])
        wait_for(lambda: min(counts(wecom)) >= 1, timeout=120, what="all 60 on WeCom from a")
        wait_for(lambda: 130101 in ding.codes(), timeout=30, what="DingTalk's 130101 to a")
        wait_for(lambda: len(inherited_delivered(lease(api, ns)["metadata"].get("annotations"))) >= N,
                 timeout=30, what="a's deliveries on the Lease")
        backup = tmp_path / "a-data-backup"
        shutil.copytree(a.data_dir, backup)  # for the container-restart part below

        a.stop(signal.SIGKILL)
        shutil.rmtree(a.data_dir)  # the pod and its emptyDir are gone
        with ding.lock:
            ding.blocked_until.clear()
        wait_for(lambda: b.metric("kea_leader") == 1.0, timeout=30, what="b to take over")
        wait_for(lambda: min(counts(ding)) >= 1, timeout=120, what="all 60 on DingTalk from b")
        wait_for(lambda: b.metric("kea_outbox_pending") == 0.0, timeout=60, what="b's outbox to drain")
        assert (counts(wecom), counts(ding)) == ([1] * N, [1] * N)

        # The old leader's container restarts with its emptyDir (restored here), as a follower.
        shutil.copytree(backup, a.data_dir)
        a.start()
        wait_for(lambda: "outbox" in a.log_path.read_text() and a.metric("kea_leader") == 0.0, timeout=30,
                 what="a back as a follower")
        assert a.metric("kea_outbox_pending") == float(N)  # the DingTalk backlog it kept, not sent
        # b steps down gracefully (a rolling update): a takes over, drops what b delivered.
        b.stop()
        wait_for(lambda: a.metric("kea_leader") == 1.0, timeout=30, what="a to lead again")
        wait_for(lambda: a.metric("kea_outbox_pending") == 0.0, timeout=60, what="a's outbox settled")
        assert (counts(wecom), counts(ding)) == ([1] * N, [1] * N)
    finally:
        for d in (a, b):
            d.stop(signal.SIGKILL)
        wecom.stop()
        ding.stop()
        api.close()
    for d in (a, b):
        assert "Traceback" not in d.log_path.read_text()
