"""Two teams on one daemon (issue 11), as a user runs it against the real kube-apiserver: each
team's namespace routes to its own robot (the protocol-true WeCom receiver, one key per team),
each robot gets only its team's alerts, and with `group_wait: 2s` two OOMs of one team within
it arrive as one message."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.support import get, wait_for
from tests.harness.kube import (container_status, create_namespace, create_pod, patch_pod_status, request,
                                terminated)
from tests.notifiers.receivers import free_port

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.kube
KEY_PAY, KEY_WEB = "wk-e2e-team-pay-1a2b3c", "wk-e2e-team-web-4d5e6f"


@pytest.fixture
def second_namespace(kube_control_plane):
    with kube_control_plane.api_client() as api:
        ns = create_namespace(api)
        yield ns
        try:
            request(api, "DELETE", f"/api/v1/namespaces/{ns}")
        except Exception:
            pass


@pytest.fixture
def robots():
    from datetime import datetime, timezone

    from tests.notifiers.receivers import FakeClock, WeComReceiver
    rx = WeComReceiver(FakeClock(datetime.now(timezone.utc)), keys=(KEY_PAY, KEY_WEB)).start()
    yield rx
    rx.stop()


def oom(api, ns, pod):
    patch_pod_status(api, ns, pod, pod_ip="10.1.2.3", host_ip="192.168.1.7",
                     container_statuses=[container_status("app", ready=False, restart_count=1,
                                                          last_state=terminated("OOMKilled", 137))])


def test_two_teams_get_their_own_alerts_and_one_teams_two_ooms_are_one_message(
        tmp_path, kube_control_plane, kube_namespace, second_namespace, robots):
    api, pay, web, port = kube_control_plane.api_client(), kube_namespace, second_namespace, free_port()
    pods = {pay: ["pay-api-7c9f8d6b5-aaaaa", "pay-worker-6b5d4c3b2-bbbbb"], web: ["web-5f4e3d2c1-ccccc"]}
    for ns, names in pods.items():
        for name in names:
            create_pod(api, ns, name, ["app"], owner_rs=name.rsplit("-", 1)[0], labels={"app": name.split("-")[1]})
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"""
cluster: e2e
data_dir: {tmp_path / 'data'}
metrics: {{address: 127.0.0.1, port: {port}}}
kubernetes:
  kubeconfig: {kube_control_plane.kubeconfig_path}
  namespaces: [{pay}, {web}]
  leader_election: {{enabled: false}}
notifiers:
  pay-robot: {{type: wecom, url: "{robots.base}/cgi-bin/webhook/send?key={KEY_PAY}"}}
  web-robot: {{type: wecom, url: "{robots.base}/cgi-bin/webhook/send?key={KEY_WEB}"}}
# The pods back no Service: without this the built-in rule holds each OOM for a drop that may follow.
inhibition: {{builtin: false}}
routing:
  default: []
  routes:
    - matchers: ["namespace={pay}"]
      notify: [pay-robot]
      group_by: [namespace]
      group_wait: 2s
    - matchers: ["namespace={web}"]
      notify: [web-robot]
""")
    log = open(tmp_path / "daemon.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "watcher.cli", "run", "-c", str(cfg)], cwd=REPO,
                            env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: get(f"http://127.0.0.1:{port}/readyz")[0] == 200, timeout=60, what="/readyz")
        for ns, names in pods.items():
            for name in names:
                oom(api, ns, name)
        wait_for(lambda: 'kea_notifications_total{notifier="web-robot",platform="wecom",result="sent"} 1.0'
                 in get(f"http://127.0.0.1:{port}/metrics")[1], timeout=60, what="the web team's message")
        wait_for(lambda: 'kea_notifications_total{notifier="pay-robot",platform="wecom",result="sent"} 1.0'
                 in get(f"http://127.0.0.1:{port}/metrics")[1], timeout=60, what="the pay team's message")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=40) == 0
    by_robot = {key: [robots.text_of(r.payload) for r in robots.accepted if r.robot == key] for key in (KEY_PAY, KEY_WEB)}
    [pay_text] = by_robot[KEY_PAY]  # both OOMs of the pay team in one message
    assert all(name in pay_text for name in pods[pay]) and "web-5f4e3d2c1" not in pay_text
    [web_text] = by_robot[KEY_WEB]
    assert "web-5f4e3d2c1-ccccc" in web_text and "pay-" not in web_text
    assert "Traceback" not in (tmp_path / "daemon.log").read_text()
