"""`kube-event-alerter events` end to end: the table and JSON output against a SQLite file and the
real Elasticsearch node (chosen by the config), `--detail`, bad flags, and the daemon writing
the history that the command then finds."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.support import wait_for
from tests.factories import endpoint_slice, event, oom, pod, rec
from tests.search.test_search import cluster_events
from watcher.cli import main

REPO = Path(__file__).resolve().parents[2]
DAY = ["--from", "2026-11-20", "--to", "2026-11-20"]


@pytest.fixture
def config(history, tmp_path, request):
    """A config file that makes `events -c` read the `history` fixture's store."""
    cfg = tmp_path / "config.yaml"
    if request.node.callspec.params["history"] == "sqlite":
        cfg.write_text(f"data_dir: {history.writer.path.parent}\n")
    else:
        url = request.getfixturevalue("es_node").url
        cfg.write_text(f"elasticsearch: {{enabled: true, hosts: ['{url}'], index_prefix: {history.writer.prefix}}}\n")
    return cfg


def run(capsys, *argv):
    code = main(["events", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_table_has_the_ops_pages_columns(history, config, capsys):
    history.write(cluster_events())
    code, out, err = run(capsys, "-c", str(config), *DAY, "--level", "Warning")
    assert code == 0, err
    head, *rows = out.splitlines()
    assert head.split() == ["序号", "事件级别", "事件信息", "事件原因", "汇报者", "来源机器", "最后出现时间", "详情"]
    assert len(rows) == 3 and err.strip() == "3 rows"
    assert rows[0].split()[:2] == ["1", "警告"] and "Pod shop/pay-7c9f8: 就绪探针失败" in rows[0]
    assert rows[2].split()[-3:] == ["2026-11-20", "10:02:00", "uid-web.1:3"]  # Asia/Shanghai, the newest count
    assert "kubelet" in rows[2] and "node-1" in rows[2] and "BackOff" in rows[2]
    # the columns line up, counting a Chinese character as two
    from watcher.search.render import width

    starts = [width(line[:line.index(cell)]) for line, cell in zip([head, rows[0]], ["详情", "uid-"])]
    assert starts[0] == starts[1]


def test_json_detail_and_the_other_histories(history, config, capsys):
    history.write(cluster_events() + [rec(pod("web-6d8f7c9b4-k7m2p", restarts=1, last=oom(100))),
                                      rec(endpoint_slice([True, False], change=60))])
    code, out, _ = run(capsys, "-c", str(config), *DAY, "-q", "MOUNT", "--format", "json")
    assert code == 0 and [json.loads(line)["_id"] for line in out.splitlines()] == ["uid-db.1:1"]
    code, out, _ = run(capsys, "-c", str(config), "--detail", "uid-web.1:2")
    assert code == 0 and json.loads(out)["count"] == 2
    code, out, _ = run(capsys, "terminations", "-c", str(config), *DAY, "--reason", "OOMKilled")
    assert code == 0 and "web-6d8f7c9b4-k7m2p" in out and "137" in out and out.startswith("序号  结束时间")
    code, out, _ = run(capsys, "endpoints", "-c", str(config), *DAY, "--object", "Service/web")
    assert code == 0 and "initial" in out and "1/2" in out
    code, _, err = run(capsys, "-c", str(config), "--detail", "uid-nope:1")
    assert code == 1 and "no events document with id 'uid-nope:1'" in err


@pytest.mark.parametrize(("argv", "message"), [
    (["--level", "Critical"], "--level: expected Warning, Normal or all"),
    (["--since", "1week"], "--since: expected a duration"),
    (["--since", "1d", "--from", "2026-11-20"], "give --since or --from/--to, not both"),
    (["--from", "yesterday"], "--from: expected a date or time"),
    (["--from", "2026-11-21", "--to", "2026-11-20"], "--to is before --from"),
    (["endpoints", "--reason", "BackOff"], "--reason applies to events and terminations"),
    (["endpoints", "--object", "Pod/web"], "endpoint history is per Service"),
    (["terminations", "--level", "Warning"], "--level applies to events only"),
    (["--object", "Pod/"], "--object: expected KIND/NAME or NAME"),
    (["--limit", "0"], "--limit: expected a whole number from 1 to 10000"),
    (["--limit", "10001"], "--limit: expected a whole number from 1 to 10000"),
])
def test_a_search_that_means_nothing_exits_2_naming_the_flag(tmp_path, capsys, argv, message):
    db = tmp_path / "h.sqlite3"
    from watcher.search.sqlite_store import SqliteHistory

    SqliteHistory(db, prefix="kea", retention_days=0, max_bytes=0).stop()
    code, _, err = run(capsys, *argv, "--db", str(db))
    assert code == 2 and message in err


def test_no_history_or_no_elasticsearch_exits_1_without_secrets(tmp_path, capsys):
    code, _, err = run(capsys, "--db", str(tmp_path / "none.sqlite3"))
    assert code == 1 and "no local history at" in err
    cfg = tmp_path / "c.yaml"
    cfg.write_text("elasticsearch: {enabled: true, hosts: ['http://127.0.0.1:9'], username: kea, "
                   "password: s3cret-pw-0123}\n")
    code, _, err = run(capsys, "-c", str(cfg), "--since", "1h")
    assert code == 1 and "cannot search Elasticsearch (ConnectionError" in err and "s3cret" not in err
    code, _, err = run(capsys)
    assert code == 2 and "give -c CONFIG (or --db FILE)" in err


def test_cluster_text_cannot_drive_the_terminal(tmp_path, capsys):
    from watcher.search.sqlite_store import SqliteHistory

    db = tmp_path / "h.sqlite3"
    h = SqliteHistory(db, prefix="kea", retention_days=0, max_bytes=0)
    h.put(rec(event("evil.1", message="ok\x1b]0;owned\x07\x1b[2J\nnext line")), None)
    h.stop()
    code, out, _ = run(capsys, "--db", str(db), *DAY)
    assert code == 0 and "\x1b" not in out and "\x07" not in out
    assert len(out.splitlines()) == 2 and "ok ]0;owned [2J next line" in out


OOM = REPO / "examples" / "recordings" / "oomkilled-crashloop.jsonl"


@pytest.mark.slow
def test_the_daemon_without_elasticsearch_keeps_the_history_events_searches(tmp_path, capsys):
    """README "Event search": no Elasticsearch configured, yet `events` finds the replayed
    Events and the OOM kill, read from <data_dir>/history.sqlite3 while the daemon runs."""
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"cluster: laptop\ndata_dir: {tmp_path / 'data'}\nmetrics: {{enabled: false}}\n"
                   "kubernetes: {leader_election: {enabled: false}}\nlocal_history: {flush_interval: 100ms, retention_days: 0}\n")
    log = open(tmp_path / "daemon.log", "a")
    proc = subprocess.Popen([sys.executable, "-m", "watcher.cli", "run", "-c", str(cfg), "--replay", str(OOM)],
                            cwd=REPO, env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT)
    window = ["--from", "2026-11-19", "--to", "2026-11-21"]

    def found(*argv):
        if not (tmp_path / "data" / "history.sqlite3").exists():
            return None
        code = main(["events", *argv, "-c", str(cfg), *window, "--format", "json"])
        out = capsys.readouterr().out
        return [json.loads(line) for line in out.splitlines()] if code == 0 and out else None

    try:
        terminations = wait_for(lambda: found("terminations", "--reason", "OOMKilled"), timeout=60,
                                what="the OOM kill in the local history")
        assert {t["pod"] for t in terminations} == {"payment-api-7c9f8d6b5-x2x1z"}
        assert {t["cluster"] for t in terminations} == {"laptop"}
        events = wait_for(lambda: found("--ns", "shop"), what="the Events in the local history")
        assert "Pulled" in {e["reason"] for e in events}
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, (tmp_path / "daemon.log").read_text()[-3000:]
