"""Retention: which daily indices expire (pure), deleting them on the real node, the job."""
from datetime import datetime, timedelta, timezone

import pytest

from tests.es.helpers import prefix_of
from watcher.es.retention import add_retention_job, delete_old_indices, expired_indices
from watcher.es.templates import install_templates

NOW = datetime(2024, 6, 30, 3, 30, tzinfo=timezone.utc)


def test_expired_indices_by_the_date_in_the_name():
    names = ["kea-events-2024.05.30", "kea-events-2024.05.31", "kea-endpoints-2024.01.01",
             "kea-terminations-2024.06.30", "kea-alerts", "kea-x-events-2024.01.01", "other-events-2024.01.01",
             "kea-events-2024.13.45", "kea-events-2024.01.01-restored", "kea-events"]
    assert expired_indices(names, "kea", 30, NOW) == ["kea-endpoints-2024.01.01", "kea-events-2024.05.30"]


def test_zero_retention_keeps_everything():
    assert expired_indices(["kea-events-2000.01.01"], "kea", 0, NOW) == []


@pytest.mark.es
def test_delete_old_indices_on_the_node(es_client, es_prefix):
    prefix = prefix_of(es_prefix)
    install_templates(es_client, prefix)
    keep = [f"{prefix}-events-2024.06.29", f"{prefix}-endpoints-2024.05.31", f"{prefix}-alerts",
            f"{prefix}x-events-2024.01.01"]  # another prefix that shares ours as its start
    doomed = [f"{prefix}-events-2024.05.29", f"{prefix}-terminations-2024.01.02"]
    for name in keep + doomed:
        es_client.indices.create(index=name)
    assert delete_old_indices(es_client, prefix, 30, NOW) == sorted(doomed)
    left = {r["index"] for r in es_client.cat.indices(index=f"{prefix}*", h="index", format="json")}
    assert left == set(keep)
    assert delete_old_indices(es_client, prefix, 30, NOW) == []  # idempotent


def test_retention_job_is_scheduled_and_runs(monkeypatch):
    from apscheduler.schedulers.background import BackgroundScheduler

    calls = []
    monkeypatch.setattr("watcher.es.retention.delete_old_indices", lambda *a: calls.append(a) or [])
    scheduler = BackgroundScheduler(timezone="UTC")  # never started: we run the job by hand
    job = add_retention_job(scheduler, client="C", prefix="kea", retention_days=7, clock=lambda: NOW,
                            cron="30 3 * * *", timezone_name="Asia/Shanghai")
    assert "hour='3'" in str(job.trigger) and "minute='30'" in str(job.trigger)
    job.func()
    assert calls == [("C", "kea", 7, NOW)]
    job2 = add_retention_job(scheduler, client="C", prefix="kea", retention_days=7, clock=lambda: NOW,
                             interval=timedelta(hours=6), job_id="r2")
    assert job2.trigger.interval == timedelta(hours=6)


def test_retention_job_failure_is_logged_not_raised(monkeypatch, caplog):
    from apscheduler.schedulers.background import BackgroundScheduler

    def boom(*a):
        raise ConnectionError("es down")

    monkeypatch.setattr("watcher.es.retention.delete_old_indices", boom)
    job = add_retention_job(BackgroundScheduler(timezone="UTC"), client=None, prefix="kea", retention_days=7,
                            clock=lambda: NOW, cron="0 4 * * *")
    job.func()
    assert "retention job failed" in caplog.text


def test_future_dated_indices_beyond_the_window_are_retired():
    # Written by an earlier version from a bad object's time: nothing writes there any more.
    names = ["kea-events-2024.07.01", "kea-events-2024.07.30", "kea-events-2024.07.31", "kea-terminations-2031.01.01"]
    assert expired_indices(names, "kea", 30, NOW) == ["kea-events-2024.07.31", "kea-terminations-2031.01.01"]


def test_the_writer_and_retention_agree_on_the_oldest_kept_day():
    from watcher.es.documents import Documenter
    from tests.factories import oom, pod, rec

    for finished in ("2024-05-30T23:59:59Z", "2024-05-31T00:00:00Z"):
        docs = Documenter(prefix="kea", clock=lambda: NOW, retention_days=30).documents(
            rec(pod(restarts=1, last={**oom(100), "finishedAt": finished})))
        expired = expired_indices([d.index for d in docs], "kea", 30, NOW)
        assert docs and not expired or not docs, (finished, docs, expired)
    assert expired_indices(["kea-terminations-2024.05.30"], "kea", 30, NOW)


def test_one_writer_moves_its_retention_window_at_utc_midnight():
    """The writer computes its day window once per UTC day: the same Documenter must still
    skip, one minute after midnight, what had just become older than retention keeps, and
    send what has just stopped being "too far ahead" to its own day."""
    from tests.factories import oom, pod, rec
    from watcher.es.documents import Documenter

    clock = [datetime(2024, 6, 30, 23, 59, tzinfo=timezone.utc)]
    writer = Documenter(prefix="kea", clock=lambda: clock[0], retention_days=30)

    names = iter(range(100))

    def index_of(finished: str) -> list[str]:  # each a new pod: its termination is new
        return [d.index for d in writer.documents(
            rec(pod(f"web-{next(names)}", restarts=1, last={**oom(100), "finishedAt": finished})))]

    assert index_of("2024-05-31T12:00:00Z") == ["kea-terminations-2024.05.31"]
    assert index_of("2024-07-02T12:00:00Z") == ["kea-terminations-2024.06.30"]  # beyond the skew: today's
    clock[0] += timedelta(minutes=2)
    assert index_of("2024-05-31T12:00:00Z") == []
    assert index_of("2024-07-02T12:00:00Z") == ["kea-terminations-2024.07.02"]
