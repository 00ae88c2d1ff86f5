"""Edges of reading recordings and replaying them: odd values, damaged lines, big files, time."""
import json
from pathlib import Path

import pytest

from watcher.cli import main
from watcher.recording import RecordingError, WatchItem, read_recording

REPO = Path(__file__).resolve().parents[2]
RECORDINGS = sorted(str(p) for p in (REPO / "examples" / "recordings").glob("*.jsonl"))
OOM_LINES = Path(RECORDINGS[0]).read_text().splitlines()


@pytest.mark.parametrize("kind", [5, ["PodList"], {"a": 1}, None, True])
def test_a_non_string_kind_is_reported_not_a_traceback(tmp_path, capsys, kind):
    bad = tmp_path / "kind.jsonl"
    odd = json.dumps({"kind": kind, "metadata": {"name": "x"}, "items": []})
    bad.write_text("\n".join([odd, *OOM_LINES]) + "\n")
    assert main(["replay", str(bad)]) == 1
    captured = capsys.readouterr()
    assert f"{bad}:1: " in captured.err and "Traceback" not in captured.err
    assert "OOMKilled" in captured.out  # the rest of the file still ran


def _where(items):
    return [(type(i).__name__, i.where.rsplit(":", 1)[1]) for i in items]


def test_line_numbers_stay_right_across_lines_pretty_printed_values_and_bad_lines(tmp_path):
    pretty = json.dumps(json.loads(OOM_LINES[1]), indent=2).splitlines()  # many lines, `{` then indented
    path = tmp_path / "mixed.json"
    path.write_text("\n".join([OOM_LINES[0], "", *pretty, "{not json", OOM_LINES[2], "   ", OOM_LINES[3]]) + "\n")
    after = 2 + len(pretty)
    assert _where(read_recording(path)) == [
        ("WatchItem", "1"), ("WatchItem", "3"), ("RecordingError", str(after + 1)),
        ("WatchItem", str(after + 2)), ("WatchItem", str(after + 4)),
    ]


def test_many_lines_keep_their_numbers(tmp_path):
    path = tmp_path / "long.jsonl"
    path.write_text("\n".join(OOM_LINES[i % len(OOM_LINES)] for i in range(3000)) + "\n")
    assert [int(i.where.rsplit(":", 1)[1]) for i in read_recording(path)] == list(range(1, 3001))


def _damaged(tmp_path, bad: bytes):
    path = tmp_path / "damaged.jsonl"
    good = [line.encode() for line in OOM_LINES]
    path.write_bytes(b"\n".join([good[0], bad, *good[1:]]) + b"\n")
    return path


DAMAGE = {
    "deeply_nested": (b"[" * 100_000, "too_deep"),
    "not_utf8": (OOM_LINES[1].encode().replace(b"payment", b"pay\xffment"), "not_utf8"),
    "torn": (OOM_LINES[1].encode()[:200], "invalid_json"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_line_costs_that_line_only(tmp_path, damage):
    path = _damaged(tmp_path, DAMAGE[damage][0])
    items = list(read_recording(path))
    errors = [i for i in items if isinstance(i, RecordingError)]
    assert [(e.where, e.reason) for e in errors] == [(f"{path}:2", DAMAGE[damage][1])]
    assert [i.where for i in items if isinstance(i, WatchItem)] == [f"{path}:{n}" for n in [1, *range(3, len(OOM_LINES) + 2)]]


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_replay_reports_a_damaged_line_and_replays_the_rest(tmp_path, capsys, damage):
    path = _damaged(tmp_path, DAMAGE[damage][0])
    assert main(["replay", "--format", "json", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith(f"{path}:2: ") and "Traceback" not in captured.err
    assert f"skipped 1 ({DAMAGE[damage][1]}=1)" in captured.err
    assert [json.loads(line)["rule"] for line in captured.out.splitlines()] == ["oom-killed"]


def test_run_replay_source_counts_damaged_lines_and_reads_on(tmp_path):
    import threading

    from watcher.sources import ReplaySource

    path = tmp_path / "all-damage.jsonl"
    good = [line.encode() for line in OOM_LINES]
    path.write_bytes(b"\n".join([good[0], *(bad for bad, _ in DAMAGE.values()), *good[1:]]) + b"\n")
    records, skipped = [], []
    source = ReplaySource([str(path)], cluster="t", sink=records.append, stop=threading.Event(), on_skip=skipped.append)
    source.start()
    assert source.done.wait(30), "the reader thread ended without finishing the file"
    assert sorted(skipped) == sorted(reason for _, reason in DAMAGE.values())
    assert len(records) == len(OOM_LINES)


RULE = "name: probe-failures\nsource: event\nmatch: {reason: Unhealthy}\ndetector: any\n"
BAD_EXPECTATIONS = {
    "binary": (b"\x7fELF\x02\x01\x01\x00\x00\xd0\xff\x00" * 20, "not UTF-8"),
    "latin1": ("alerts:\n  - rule: caf\xe9\n".encode("latin-1"), "not UTF-8"),
    "not_yaml": (b"alerts:\n  - {rule: [\n", "invalid YAML"),
    "nul": (b"\x00\x01", "invalid YAML"),
    "scalar_item": (b"alerts: [5]\n", "each expected alert is a mapping"),
    "two_documents": (b"alerts: []\n---\nalerts: []\n", "expected one YAML document"),
}


@pytest.mark.parametrize("case", sorted(BAD_EXPECTATIONS))
def test_rules_test_names_a_bad_expect_file_without_a_traceback(tmp_path, capsys, case):
    content, message = BAD_EXPECTATIONS[case]
    rule, expect = tmp_path / "r.yaml", tmp_path / "expect.yaml"
    rule.write_text(RULE)
    expect.write_bytes(content)
    assert main(["rules", "test", str(rule), RECORDINGS[1], "--expect", str(expect)]) == 2
    captured = capsys.readouterr()
    problem = [line for line in captured.err.splitlines() if line.startswith(f"{expect}:")]
    assert len(problem) == 1 and message in problem[0], captured.err
    assert captured.out == ""  # checked before the replay: nothing is printed for a run that cannot be judged


def _replay_through_pipeline(files, rules=None):
    """`run --replay` without the process: recordings → ReplaySource → Pipeline → alerts."""
    import threading

    from rules.engine import Engine
    from rules.loader import load_rule_set
    from watcher.pipeline import Pipeline
    from watcher.sources import ReplayClock, ReplaySource

    engine = Engine(rules or load_rule_set([], builtins=True).rules)
    clock, alerts, stop = ReplayClock(), [], threading.Event()
    pipeline = Pipeline(engine, clock=clock, on_alert=alerts.append)
    pipeline.start()
    source = ReplaySource(files, cluster="t", sink=pipeline.put, stop=stop, clock=clock, drain=pipeline.drain)
    source.start()
    try:
        assert source.done.wait(30) and pipeline.drain(30)
    finally:
        stop.set()
        pipeline.stop()
    return alerts, clock


def test_run_replay_judges_for_by_the_record_times():
    alerts, clock = _replay_through_pipeline(RECORDINGS)
    assert [(a.rule, a.status, a.at.strftime("%H:%M:%S")) for a in alerts] == [
        ("oom-killed", "firing", "02:17:00"),
        ("endpoints-unhealthy", "firing", "02:36:31"),
        ("endpoints-unhealthy", "resolved", "02:37:34"),
    ]
    # After the last record, time goes on from it with the wall clock (later timers still fire).
    first = clock()
    assert first >= alerts[-1].at and clock() >= first


WEB_LINES = Path(RECORDINGS[1]).read_text().splitlines()


def _untimed_slice(name="api-4k2px", service="api"):
    """A healthy EndpointSlice without the change-trigger annotation: a record with no time."""
    event = json.loads(WEB_LINES[2])
    meta = event["object"]["metadata"]
    meta.pop("annotations")
    meta["name"], meta["labels"]["kubernetes.io/service-name"] = name, service
    return json.dumps(event)


def _with_untimed_first(tmp_path):
    path = tmp_path / "untimed.jsonl"
    path.write_text("\n".join([_untimed_slice(), _untimed_slice("db-9x8", "db"), *OOM_LINES]) + "\n")
    return path


def test_replay_warns_once_per_file_about_records_without_time(tmp_path, capsys):
    path = _with_untimed_first(tmp_path)
    assert main(["replay", str(path), RECORDINGS[1]]) == 0
    err = capsys.readouterr().err
    assert err.count("had no time") == 1
    assert f"{path}: 2 records had no time; the replay clock did not move for them" in err


def test_replay_records_without_time_first_do_not_make_the_rest_history(tmp_path, capsys):
    assert main(["replay", "--format", "json", str(_with_untimed_first(tmp_path))]) == 0
    assert [json.loads(line)["rule"] for line in capsys.readouterr().out.splitlines()] == ["oom-killed"]


def test_run_replay_warns_once_per_file_and_still_fires(tmp_path, caplog):
    path = _with_untimed_first(tmp_path)
    with caplog.at_level("WARNING", logger="kea.sources"):
        alerts, _ = _replay_through_pipeline([str(path), RECORDINGS[1]])
    assert [r.getMessage() for r in caplog.records if "no time" in r.getMessage()] == [
        f"{path}: 2 records had no time; the replay clock did not move for them"]
    assert [(a.rule, a.status) for a in alerts] == [
        ("oom-killed", "firing"), ("endpoints-unhealthy", "firing"), ("endpoints-unhealthy", "resolved")]


@pytest.mark.parametrize("before, after", [
    (b"  \xff", None),  # an indented line that is not UTF-8 right after a good line
    (None, b"["),       # a stray `[` before a good line: not a value the good line completes
])
def test_a_bad_neighbour_does_not_cost_a_good_line(tmp_path, before, after):
    good = [line.encode() for line in OOM_LINES[:3]]
    bad = before if before is not None else after
    path = tmp_path / "neighbour.jsonl"
    lines = [good[0], bad, good[1], good[2]] if before is not None else [bad, good[0], good[1], good[2]]
    path.write_bytes(b"\n".join(lines) + b"\n")
    items = list(read_recording(path))
    good_at = [i.where for i in items if isinstance(i, WatchItem)]
    assert good_at == ([f"{path}:1", f"{path}:3", f"{path}:4"] if before is not None else [f"{path}:2", f"{path}:3", f"{path}:4"])
    assert [e.where for e in items if isinstance(e, RecordingError)] == [f"{path}:{2 if before is not None else 1}"]
