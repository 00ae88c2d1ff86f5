"""The durable outbox: written before submit returns, removed only when confirmed, never
twice, bounded oldest-first, and whole after kill -9."""
from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from notifiers import Outbox
from notifiers.samples import sample_alert
from tests.notifiers.conftest import numbered_alerts
from tests.notifiers.receivers import FakeClock

ROOT = Path(__file__).resolve().parents[2]


def test_an_entry_survives_reopening(tmp_path: Path) -> None:
    alert = sample_alert("oom")
    Outbox(tmp_path).put("ops", alert)
    (entry,) = Outbox(tmp_path).entries()
    assert (entry.id, entry.notifier, entry.alert) == (f"ops|{alert.id}", "ops", alert)


def test_pending_and_confirmed_ids_are_not_written_again(tmp_path: Path) -> None:
    box = Outbox(tmp_path)
    a, b = numbered_alerts(2)
    assert box.put("ops", a).status == "added"
    assert box.put("ops", a).status == "pending"
    box.confirm([box.put("ops", b).entry.id])  # type: ignore[union-attr]
    assert Outbox(tmp_path).put("ops", b).status == "confirmed"


def test_the_same_alert_for_another_notifier_is_its_own_entry(tmp_path: Path) -> None:
    box = Outbox(tmp_path)
    alert = sample_alert("oom")
    assert [box.put(n, alert).status for n in ("wecom", "ding")] == ["added", "added"]


def test_confirmed_entry_left_behind_by_a_crash_is_not_resent(tmp_path: Path) -> None:
    box = Outbox(tmp_path)
    entry = box.put("ops", sample_alert("oom")).entry
    (path,) = (tmp_path / "pending").iterdir()
    saved = path.read_bytes()
    box.confirm([entry.id])  # type: ignore[union-attr]
    path.write_bytes(saved)  # as if the process died between log append and unlink
    reopened = Outbox(tmp_path)
    assert len(reopened) == 0 and not list((tmp_path / "pending").iterdir())


def test_full_outbox_drops_oldest_first_and_says_which(tmp_path: Path) -> None:
    box = Outbox(tmp_path, max_entries=3)
    alerts = numbered_alerts(5)
    dropped = [d.alert for a in alerts for d in box.put("ops", a).dropped]
    assert dropped == alerts[:2]
    assert [e.alert for e in Outbox(tmp_path, max_entries=3).entries()] == alerts[2:]


def test_confirmed_ids_expire_after_the_retention(tmp_path: Path) -> None:
    clock = FakeClock()
    box = Outbox(tmp_path, retention_seconds=3600, clock=clock.now)
    alert = sample_alert("oom")
    box.confirm([box.put("ops", alert).entry.id])  # type: ignore[union-attr]
    clock.advance(3601)
    assert Outbox(tmp_path, retention_seconds=3600, clock=clock.now).put("ops", alert).status \
        == "added"


def test_confirmed_log_is_bounded(tmp_path: Path) -> None:
    box = Outbox(tmp_path, max_confirmed=5)
    for alert in numbered_alerts(20):
        box.confirm([box.put("ops", alert).entry.id])  # type: ignore[union-attr]
    reopened = Outbox(tmp_path, max_confirmed=5)
    assert sum(reopened.is_confirmed(f"ops|{a.id}") for a in numbered_alerts(20)) == 5


def test_torn_log_line_and_temp_files_are_tolerated(tmp_path: Path) -> None:
    box = Outbox(tmp_path)
    alert = sample_alert("oom")
    box.confirm([box.put("ops", alert).entry.id])  # type: ignore[union-attr]
    with open(tmp_path / "confirmed.log", "ab") as f:
        f.write(b'{"id":"ops|tor')  # kill -9 mid-append
    (tmp_path / "pending" / "000000000099-x.json.tmp").write_bytes(b"{half")
    reopened = Outbox(tmp_path)
    assert reopened.is_confirmed(f"ops|{alert.id}")
    assert not list((tmp_path / "pending").glob("*.tmp"))
    reopened.confirm(["ops|next"])
    assert Outbox(tmp_path).is_confirmed("ops|next")


def test_dead_letters_are_kept_and_can_be_requeued(tmp_path: Path) -> None:
    box = Outbox(tmp_path)
    entry = box.put("ops", sample_alert("oom")).entry
    box.fail([entry.id], code="93000", detail="invalid key")  # type: ignore[union-attr]
    reopened = Outbox(tmp_path)
    assert (len(reopened), reopened.failed_ids()) == (0, [entry.id])  # type: ignore[union-attr]
    assert reopened.put("ops", entry.alert).status == "failed"  # type: ignore[union-attr]
    assert [e.id for e in reopened.requeue_failed()] == [entry.id]  # type: ignore[union-attr]
    assert len(Outbox(tmp_path)) == 1


def test_corrupt_entry_is_set_aside_not_fatal(tmp_path: Path) -> None:
    Outbox(tmp_path).put("ops", sample_alert("oom"))
    (tmp_path / "pending" / "000000000007-bad.json").write_bytes(b"not json")
    assert len(Outbox(tmp_path)) == 1
    assert list((tmp_path / "failed").glob("*.corrupt"))


def test_entries_come_back_in_arrival_order(tmp_path: Path) -> None:
    box = Outbox(tmp_path)
    alerts = numbered_alerts(12)
    for a in alerts:
        box.put("ops", a)
    assert [e.alert for e in Outbox(tmp_path).entries()] == alerts


WRITER = """
import builtins, os, pathlib, signal, sys
from dataclasses import replace
sys.path.insert(0, sys.argv[1])
from notifiers import Outbox
from notifiers.samples import sample_alert

box, base, run, kill_at = Outbox(sys.argv[2]), sample_alert("oom"), sys.argv[3], int(sys.argv[4])
calls = 0


def killing(fn):
    def call(*args, **kwargs):
        global calls
        calls += 1
        if calls == kill_at:  # SIGKILL just before this file-system call
            os.kill(os.getpid(), signal.SIGKILL)
        return fn(*args, **kwargs)
    return call


builtins.open = killing(builtins.open)
for name in ("open", "fsync", "replace", "unlink"):
    setattr(os, name, killing(getattr(os, name)))
pathlib.Path.unlink = killing(pathlib.Path.unlink)
i = 0
while True:  # put two, confirm the first, until killed
    ids = []
    for _ in range(2):
        entry = box.put("ops", replace(base, key=f"{run}-{i}")).entry
        print("put", entry.id, flush=True)
        ids.append(entry.id)
        i += 1
    box.confirm(ids[:1])
    print("confirmed", ids[0], flush=True)
"""


def test_kill_9_during_writes_leaves_every_entry_whole_or_absent(tmp_path: Path) -> None:
    """A writer puts and confirms in a loop and is SIGKILLed just before its N-th file-system
    call (open, write-open, fsync, replace, unlink), for every N across two loop iterations, on
    one directory: afterwards every file is whole, every put that returned is pending or
    confirmed, and nothing whose confirm returned is pending (it would be sent again)."""
    put, confirmed = set(), set()
    for kill_at in range(40, 80):
        proc = subprocess.run([sys.executable, "-c", WRITER, str(ROOT), str(tmp_path), f"r{kill_at}",
                               str(kill_at)], capture_output=True, timeout=60)
        assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
        for line in proc.stdout.splitlines():
            kind, id = line.decode().split(" ", 1)
            (put if kind == "put" else confirmed).add(id)
        box = Outbox(tmp_path)
        pending = {e.id for e in box.entries()}
        assert not list((tmp_path / "failed").glob("*.corrupt")), f"a torn entry file (kill at {kill_at})"
        assert all(box.is_confirmed(i) or i in pending for i in put), f"a put was lost (kill at {kill_at})"
        assert all(box.is_confirmed(i) and i not in pending for i in confirmed), \
            f"confirmed, yet pending: it would be sent again (kill at {kill_at})"
    assert len(confirmed) >= 40


def test_why_an_entry_was_settled_unsent_survives_reopening(tmp_path: Path) -> None:
    """The resolved of a silenced firing is recorded with the silence's id, however long after."""
    from dataclasses import replace

    firing = replace(sample_alert("oom"), incident="i-1")
    box = Outbox(tmp_path)
    entry = box.put("ops", firing).entry
    assert entry is not None
    box.settle([entry.id], "silenced", "silence-1")
    settled = Outbox(tmp_path).firing_settled("ops", entry.incident)
    assert settled is not None and (settled.result, settled.code) == ("silenced", "silence-1")
