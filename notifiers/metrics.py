"""Optional: count delivery outcomes in Prometheus (the daemon may wire its own sink instead)."""
from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter

from .outcome import DeliveryOutcome, OutcomeSink


def prometheus_outcome_sink(registry: CollectorRegistry | None = None,
                            prefix: str = "kea_notify") -> OutcomeSink:
    """Counters: `<prefix>_outcomes_total{notifier,platform,result,code}` per message step and
    `<prefix>_alerts_total{notifier,platform,result}` per alert in it."""
    target = registry if registry is not None else REGISTRY
    outcomes = Counter(f"{prefix}_outcomes", "Delivery steps by result and platform code",
                       ["notifier", "platform", "result", "code"], registry=target)
    alerts = Counter(f"{prefix}_alerts", "Alerts by delivery result",
                     ["notifier", "platform", "result"], registry=target)

    def sink(o: DeliveryOutcome) -> None:
        outcomes.labels(o.notifier, o.platform, o.result, o.code).inc()
        alerts.labels(o.notifier, o.platform, o.result).inc(len(o.alert_ids))

    return sink
