"""The daemon as a subprocess against the real kube-apiserver: it lists, takes the Lease,
turns a kubelet-style OOMKilled status patch into one WeCom message, and on SIGTERM hands the
Lease back."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.support import KEY, get, wait_for
from tests.harness.kube import container_status, create_pod, patch_pod_status, request, terminated
from tests.notifiers.receivers import free_port

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.kube



def test_oomkilled_from_the_apiserver_reaches_wecom_once_and_lease_is_released(
        tmp_path, kube_control_plane, kube_namespace, wecom):
    api, ns, port = kube_control_plane.api_client(), kube_namespace, free_port()
    create_pod(api, ns, "pay-7c9f8d6b5-abcde", ["app"], owner_rs="pay-7c9f8d6b5", labels={"app": "pay"})
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"""
cluster: e2e
data_dir: {tmp_path / 'data'}
metrics: {{address: 127.0.0.1, port: {port}}}
kubernetes:
  kubeconfig: {kube_control_plane.kubeconfig_path}
  namespaces: [{ns}]
  leader_election: {{enabled: true, lease_namespace: {ns}, identity: replica-a}}
notifiers:
  ops: {{type: wecom, url: "{wecom.base}/cgi-bin/webhook/send?key={KEY}"}}
routing: {{default: [ops]}}
""")
    log = open(tmp_path / "daemon.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "watcher.cli", "run", "-c", str(cfg)], cwd=REPO,
                            env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: get(f"http://127.0.0.1:{port}/readyz")[0] == 200, timeout=30, what="/readyz")
        wait_for(lambda: "kea_leader 1.0" in get(f"http://127.0.0.1:{port}/metrics")[1], timeout=30, what="the Lease")
        patch_pod_status(api, ns, "pay-7c9f8d6b5-abcde", pod_ip="10.1.2.3", host_ip="192.168.1.7",
                         container_statuses=[container_status("app", ready=False, restart_count=1,
                                                              last_state=terminated("OOMKilled", 137))])
        # up to ~45 s later: the built-in inhibit rule holds an OOM for an endpoint drop it may cause
        wait_for(lambda: len(wecom.accepted) == 1, timeout=90, what="the OOMKilled message")
        text = wecom.texts()[0]
        assert "OOMKilled" in text and "pay" in text and ns in text
        # the kubelet writes status again (ready now): no second message
        patch_pod_status(api, ns, "pay-7c9f8d6b5-abcde", pod_ip="10.1.2.3", host_ip="192.168.1.7",
                         container_statuses=[container_status("app", ready=True, restart_count=1,
                                                              last_state=terminated("OOMKilled", 137))])
        wait_for(lambda: 'kea_watch_events_total{resource="pods",type="MODIFIED"} 2.0'
                 in get(f"http://127.0.0.1:{port}/metrics")[1], timeout=30, what="the second patch")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=40) == 0
    assert len(wecom.accepted) == 1
    lease = request(api, "GET", f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/kube-event-alerter")
    assert not lease["spec"].get("holderIdentity")
    assert "Traceback" not in (tmp_path / "daemon.log").read_text()
