"""The daemon as a subprocess: config file, replayed recordings as the source, a real HTTP
receiver speaking WeCom's protocol. Proves delivery, the status endpoints, a clean SIGTERM,
and that a restart never sends a delivered alert again."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


from tests.e2e.support import KEY, get, wait_for
from tests.notifiers.receivers import free_port

REPO = Path(__file__).resolve().parents[2]
OOM = str(REPO / "examples" / "recordings" / "oomkilled-crashloop.jsonl")


def start_daemon(tmp_path, wecom, port):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"""
cluster: e2e
data_dir: {tmp_path / 'data'}
metrics: {{address: 127.0.0.1, port: {port}}}
kubernetes: {{leader_election: {{enabled: false}}}}
notifiers:
  ops: {{type: wecom, url: "${{WECOM_URL}}"}}
routing: {{default: [ops]}}
logging: {{format: json}}
""")
    env = {**os.environ, "WECOM_URL": f"{wecom.base}/cgi-bin/webhook/send?key={KEY}"}
    log = open(tmp_path / "daemon.log", "a")
    proc = subprocess.Popen([sys.executable, "-m", "watcher.cli", "run", "-c", str(cfg), "--replay", OOM],
                            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    return proc


def stop_daemon(proc):
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=30)


def test_delivers_once_serves_status_and_never_resends_after_restart(tmp_path, wecom):
    port = free_port()
    proc = start_daemon(tmp_path, wecom, port)
    try:
        wait_for(lambda: len(wecom.accepted) >= 1, what="the OOMKilled message")
        assert "OOMKilled" in wecom.texts()[0] and "payment-api" in wecom.texts()[0]
        status, body = wait_for(lambda: (lambda r: r if r[0] == 200 else None)(get(f"http://127.0.0.1:{port}/readyz")),
                                what="/readyz")
        assert json.loads(body)["status"] == "ok"
        assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200
        metrics = wait_for(lambda: (lambda t: t if 'result="sent"' in t else None)(get(f"http://127.0.0.1:{port}/metrics")[1]),
                           what="the sent counter")
        assert 'kea_alerts_total{rule="oom-killed",status="firing"} 1.0' in metrics
        assert 'kea_notifications_total{notifier="ops",platform="wecom",result="sent"} 1.0' in metrics
        assert 'kea_rule_matches_total{rule="oom-killed"}' in metrics
    finally:
        assert stop_daemon(proc) == 0
    logs = (tmp_path / "daemon.log").read_text()
    assert KEY not in logs
    assert all(json.loads(line)["level"] for line in logs.splitlines() if line.startswith("{"))

    # Same recording, same data dir: the alert id is the same, the outbox knows it was confirmed.
    proc = start_daemon(tmp_path, wecom, port)
    try:
        wait_for(lambda: get(f"http://127.0.0.1:{port}/metrics")[1].count('kea_alerts_total{rule="oom-killed"') == 1,
                 what="the restarted daemon's decision")
        time.sleep(1.0)  # give a (wrong) second delivery the chance to happen
        assert len(wecom.accepted) == 1
    finally:
        assert stop_daemon(proc) == 0


def test_bad_config_exits_2_with_file_and_line(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("cluster: x\nmetrics:\n  port: http\n")
    out = subprocess.run([sys.executable, "-m", "watcher.cli", "run", "-c", str(cfg)], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and f"{cfg}:3: metrics.port: expected a whole number" in out.stderr


def test_bad_rules_stop_startup_with_exit_1(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("name: x\nsource: event\ndetector: any\nnotify: [nobody]\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"rules: {{paths: ['{rules}']}}\nmetrics: {{enabled: false}}\n")
    out = subprocess.run([sys.executable, "-m", "watcher.cli", "run", "-c", str(cfg)], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and f"{rules}:4: rule `x` notifies unknown notifier `nobody`" in out.stderr
