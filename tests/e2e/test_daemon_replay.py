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
DEMO = sorted(str(p) for p in (REPO / "examples" / "recordings").glob("*.jsonl"))


def start_daemon(tmp_path, wecom, port, recordings=(OOM,)):
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
    proc = subprocess.Popen([sys.executable, "-m", "watcher.cli", "run", "-c", str(cfg), "--replay", *recordings],
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


def test_the_readme_demo_delivers_all_three_alerts(tmp_path, wecom):
    """README "Operate": `run --replay examples/recordings/*.jsonl` judges `for: 30s` by the
    records' own times, so the endpoint drop fires and resolves as in `replay`."""
    port = free_port()
    proc = start_daemon(tmp_path, wecom, port, DEMO)
    try:
        wait_for(lambda: len(wecom.accepted) >= 3, timeout=60, what="three messages")
        texts = wecom.texts()

        def one(title):
            (text,) = [t for t in texts if title in t]
            return text

        # Times are the records' own (shown in Asia/Shanghai), as `replay` prints them in the README.
        assert "2026-11-20 10:17:00" in one("【告警】容器 OOMKilled")
        assert "2026-11-20 10:36:31" in one("【告警】应用不健康")
        assert "2026-11-20 10:37:34" in one("【恢复】应用不健康")
        metrics = wait_for(lambda: (lambda t: t if t.count('result="sent"} 3.0') else None)(get(f"http://127.0.0.1:{port}/metrics")[1]),
                           what="three sent")
        for series in ('kea_alerts_total{rule="oom-killed",status="firing"} 1.0',
                       'kea_alerts_total{rule="endpoints-unhealthy",status="firing"} 1.0',
                       'kea_alerts_total{rule="endpoints-unhealthy",status="resolved"} 1.0'):
            assert series in metrics
        assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200
    finally:
        assert stop_daemon(proc) == 0
    assert len(wecom.accepted) == 3


def test_damaged_recording_lines_are_logged_counted_and_the_rest_is_sent(tmp_path, wecom):
    good = Path(OOM).read_bytes().splitlines()
    damaged = tmp_path / "damaged.jsonl"
    damaged.write_bytes(b"\n".join([good[0], b"[" * 100_000, good[1].replace(b"payment", b"pay\xffment"),
                                    good[2][:150], *good[2:]]) + b"\n")
    port = free_port()
    proc = start_daemon(tmp_path, wecom, port, [str(damaged)])
    try:
        wait_for(lambda: len(wecom.accepted) >= 1, what="the OOMKilled message")
        metrics = get(f"http://127.0.0.1:{port}/metrics")[1]
        for reason in ("too_deep", "not_utf8", "invalid_json"):
            assert f'kea_records_skipped_total{{reason="{reason}"}} 1.0' in metrics
    finally:
        assert stop_daemon(proc) == 0
    logs = [json.loads(line) for line in (tmp_path / "daemon.log").read_text().splitlines() if line.startswith("{")]
    reported = [m for m in (entry["message"] for entry in logs) if m.startswith(f"{damaged}:")]
    assert [m.split(" (")[0].split(": invalid JSON")[0] for m in reported] == [
        f"{damaged}:2: nested too deeply to read", f"{damaged}:3: not UTF-8", f"{damaged}:4"]


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
