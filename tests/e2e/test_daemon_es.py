"""The daemon as a subprocess with the real Elasticsearch node: the demo recordings end up as
event, termination and endpoint documents, every notification is in the alert history, and a
restart restores the open incident instead of announcing it again."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.support import KEY, wait_for
from tests.es.helpers import polled_count
from tests.notifiers.receivers import free_port

REPO = Path(__file__).resolve().parents[2]
RECORDINGS = [str(p) for p in sorted((REPO / "examples" / "recordings").glob("*.jsonl"))]
pytestmark = pytest.mark.es



def run(tmp_path, es_node, prefix, wecom, port, files):
    rules = tmp_path / "rules.yaml"
    # The built-in rule waits 30 s (`for`); the replay arrives in milliseconds.
    rules.write_text("name: endpoints-unhealthy\nsource: endpoints\ndetector: endpoints_unhealthy\nseverity: critical\n")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"""
cluster: e2e
data_dir: {tmp_path / 'data'}
metrics: {{address: 127.0.0.1, port: {port}}}
kubernetes: {{leader_election: {{enabled: false}}}}
rules: {{paths: ["{rules}"]}}
elasticsearch: {{enabled: true, hosts: ["{es_node.url}"], index_prefix: {prefix}, bulk: {{flush_interval: 0.2s}}}}
notifiers:
  ops: {{type: wecom, url: "{wecom.base}/cgi-bin/webhook/send?key={KEY}"}}
routing: {{default: [ops]}}
""")
    log = open(tmp_path / "daemon.log", "a")
    return subprocess.Popen([sys.executable, "-m", "watcher.cli", "run", "-c", str(cfg), "--replay", *files],
                            cwd=REPO, env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT)




def stop(proc):
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0


def test_documents_persisted_and_open_incident_resolved_after_restart(tmp_path, es_node, es_client, es_prefix, wecom):
    prefix, port = es_prefix.rstrip("-"), free_port()
    lines = Path(RECORDINGS[1]).read_text().splitlines()  # web: 2/2 -> 1/2 (line 8) -> 2/2 (line 10)
    first, second = tmp_path / "until-drop.jsonl", tmp_path / "recovery.jsonl"
    first.write_text("\n".join(lines[:8]) + "\n")
    second.write_text("\n".join(lines[8:]) + "\n")

    proc = run(tmp_path, es_node, prefix, wecom, port, [str(first)])
    try:
        wait_for(lambda: len(wecom.accepted) == 1, what="the unhealthy message")
        assert "【告警】应用不健康" in wecom.texts()[0]
        wait_for(lambda: polled_count(es_client, f"{prefix}-alerts", result="sent") == 1, what="the alert history doc")
        wait_for(lambda: polled_count(es_client, f"{prefix}-events") == 3, what="3 event documents (2 events, 1 count bump)")
        wait_for(lambda: polled_count(es_client, f"{prefix}-terminations") == 1, what="the liveness-probe termination")
        assert polled_count(es_client, f"{prefix}-terminations", oom=True) == 0
        wait_for(lambda: polled_count(es_client, f"{prefix}-endpoints") >= 2, what="endpoint health changes")
    finally:
        stop(proc)

    # A fresh daemon sees only the recovery. It knows the incident is open only from the
    # alert history in Elasticsearch: without the restore it would say nothing at all.
    proc = run(tmp_path, es_node, prefix, wecom, port, [str(second)])
    try:
        wait_for(lambda: len(wecom.accepted) == 2, what="the resolved message")
        assert "【恢复】应用不健康" in wecom.texts()[1]
        assert "restored_incidents=1" in (tmp_path / "daemon.log").read_text()
        wait_for(lambda: polled_count(es_client, f"{prefix}-alerts", result="sent") == 2, what="both notifications in the history")
    finally:
        stop(proc)
    assert "Traceback" not in (tmp_path / "daemon.log").read_text()
