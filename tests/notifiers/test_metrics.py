"""The optional Prometheus sink counts outcomes by result and code, and alerts per result."""
from __future__ import annotations

from prometheus_client import CollectorRegistry

from notifiers import DeliveryOutcome
from notifiers.metrics import prometheus_outcome_sink


def test_outcomes_and_alerts_are_counted() -> None:
    registry = CollectorRegistry()
    sink = prometheus_outcome_sink(registry)
    sink(DeliveryOutcome("ops", "wecom", ("a", "b"), "sent", "0", "2 alert(s)"))
    sink(DeliveryOutcome("ops", "wecom", ("c",), "failed", "93000", "invalid key"))
    labels = {"notifier": "ops", "platform": "wecom"}
    assert registry.get_sample_value("kea_notify_alerts_total", {**labels, "result": "sent"}) == 2
    assert registry.get_sample_value("kea_notify_outcomes_total",
                                     {**labels, "result": "failed", "code": "93000"}) == 1
