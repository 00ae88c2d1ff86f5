from datetime import datetime, timezone

import pytest

from rules.engine import Engine
from rules.loader import load_rule_set
from watcher.pipeline import Pipeline
from watcher.reload import RuleReloader

RULE = "name: warn\nsource: event\nmatch: {type: Warning}\ndetector: any\nseverity: {sev}\n"


def _setup(tmp_path):
    f = tmp_path / "r.yaml"
    f.write_text(RULE.replace("{sev}", "warning"))
    engine = Engine(load_rule_set([tmp_path]).rules)
    pipeline = Pipeline(engine, clock=lambda: datetime.now(timezone.utc), on_alert=lambda a: None)
    pipeline.start()
    results: list[str] = []
    reloader = RuleReloader([str(tmp_path)], builtins=True,
                            apply=lambda rules: pipeline.call(lambda eng: eng.replace_rules(rules)),
                            on_result=results.append)
    return f, engine, pipeline, reloader, results


def test_changed_file_is_reloaded_on_the_pipeline_thread(tmp_path):
    f, engine, pipeline, reloader, results = _setup(tmp_path)
    try:
        assert reloader.check_files() is False
        f.write_text(RULE.replace("{sev}", "critical"))
        assert reloader.check_files() is True
        assert {r.name: r.severity for r in engine.rules}["warn"] == "critical"
        assert results == ["success"]
    finally:
        pipeline.stop()


def test_invalid_new_rules_are_rejected_and_old_ones_kept(tmp_path, caplog):
    f, engine, pipeline, reloader, results = _setup(tmp_path)
    try:
        f.write_text(RULE.replace("{sev}", "critical") + "detector: nope\n")
        assert reloader.check_files() is False
        assert {r.name: r.severity for r in engine.rules}["warn"] == "warning"
        assert results == ["failure"]
        assert f"{f}:6: duplicate key `detector`" in caplog.text
    finally:
        pipeline.stop()


def test_unknown_notifier_is_rejected_like_at_start(tmp_path, caplog):
    f, engine, pipeline, reloader, results = _setup(tmp_path)
    reloader.notifiers = {"ops": {}}
    try:
        f.write_text(RULE.replace("{sev}", "info") + "notify: [x]\n")
        assert reloader.reload("SIGHUP") is False and results == ["failure"]
        assert f"{f}:6: rule `warn` notifies unknown notifier `x`" in caplog.text
    finally:
        pipeline.stop()


def test_pipeline_survives_a_failing_alert_sink(tmp_path):
    from rules.loader import load_text
    from tests.factories import event, rec

    rules = load_text("name: w\nsource: event\nmatch: {type: Warning}\ndetector: any\n", "r.yaml").rules
    calls = []

    def flaky(alert):
        calls.append(alert)
        if len(calls) == 1:
            raise OSError("disk full")

    pipeline = Pipeline(Engine(rules), clock=lambda: datetime.now(timezone.utc), on_alert=flaky)
    pipeline.start()
    try:
        pipeline.put(rec(event("a.1", last=0), "ADDED"))
        pipeline.put(rec(event("a.2", last=1), "ADDED"))
        assert pipeline.drain(5)
        assert len(calls) == 2 and pipeline.processed == 2
    finally:
        pipeline.stop()


HOSTILE = {
    "recursive alias": "name: warn\nsource: event\ndetector: any\nmatch: &m\n  reason: [*m]\n",
    "deep nesting": "name: warn\nsource: event\ndetector: any\nmatch: {reason: " + "[" * 3000 + "]" * 3000 + "}\n",
    "alias bomb": 'l0: &l0 "lol"\n' + "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 10)),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_a_hostile_rule_file_is_a_counted_failure_and_the_rules_stay(tmp_path, caplog, kind):
    f, engine, pipeline, reloader, results = _setup(tmp_path)
    try:
        f.write_text(HOSTILE[kind])
        assert reloader.check_files() is False
        assert results == ["failure"] and {r.name: r.severity for r in engine.rules}["warn"] == "warning"
        assert f"reload rejected: {f}:" in caplog.text
    finally:
        pipeline.stop()


def test_any_exception_while_reloading_is_a_counted_failure(tmp_path, monkeypatch, caplog):
    f, engine, pipeline, reloader, results = _setup(tmp_path)

    def broken(*args, **kwargs):
        raise MemoryError("the loader ran out")

    monkeypatch.setattr("watcher.reload.check_rules", broken)
    try:
        assert reloader.reload("SIGHUP") is False
        assert results == ["failure"] and [r.name for r in engine.rules if r.name == "warn"]
        assert "MemoryError" in caplog.text
        reloader.apply = lambda rules: (_ for _ in ()).throw(TimeoutError())
        monkeypatch.undo()
        assert reloader.reload("SIGHUP") is False and results == ["failure", "failure"]
    finally:
        pipeline.stop()
