"""The inhibitor on /metrics: the sources it holds, those it forgot over its bound (logged and,
here, counted) and the inhibition state writes that failed; read at scrape time."""
from __future__ import annotations

import logging

from prometheus_client import generate_latest

import notifiers.inhibition as inhibition
from notifiers.inhibition import Inhibitor, parse_inhibit_rules
from tests.inhibit.helpers import node_not_ready
from watcher.inhibition_state import durable_inhibitor
from watcher.metrics import Metrics


def test_forgotten_sources_and_failed_state_writes_have_series(tmp_path, monkeypatch, caplog) -> None:
    monkeypatch.setattr(inhibition, "MAX_SOURCES", 1)
    (tmp_path / "data").write_text("not a directory")  # every state write fails
    inhibitor = durable_inhibitor(Inhibitor(parse_inhibit_rules(None, builtin=True)), tmp_path / "data")
    m = Metrics()
    m.inhibition_from(inhibitor.stats)
    with caplog.at_level(logging.WARNING):
        inhibitor.observe(node_not_ready("node-1", t=0))
        inhibitor.observe(node_not_ready("node-2", t=1))
    text = generate_latest(m.registry).decode()
    assert "kea_inhibition_sources 1.0" in text
    assert "kea_inhibition_sources_forgotten_total 1.0" in text
    assert "kea_inhibition_state_save_failures_total 2.0" in text
    assert "forgot the oldest source" in caplog.text and "could not save the inhibition state" in caplog.text
