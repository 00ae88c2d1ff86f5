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
