"""The notify stages' settled-without-send outcomes reach the alert history in the real
Elasticsearch node, as the daemon connects them (watcher/delivery.py → persistence.record): a
silenced alert's document says `silenced` with the silence id, an inhibited one `inhibited`
with the source alert's id, and the metric counts each."""
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from notifiers import sample_alert
from notifiers.routes import parse_matcher
from notifiers.silences import Silence, Silences
from tests.es.helpers import prefix_of, wait_for
from tests.es.test_delivery_history_es import KEY, history_docs
from tests.notifiers.receivers import FakeClock, WeComReceiver
from watcher.config import parse_config
from watcher.delivery import Delivery
from watcher.metrics import Metrics
from watcher.persistence import Persistence

pytestmark = pytest.mark.es


class OneSource:
    """An inhibitor whose one source inhibits every OOM (the documented Inhibitor API)."""

    def __init__(self, source):
        self.source = source

    def observe(self, alert):
        pass

    def look_ahead(self, alert):
        return timedelta(0)

    def inhibitor_of(self, alert, now):
        return self.source if alert.rule == "oom-killed" and alert.key.endswith("/inhibited") else None

    def inhibited_count(self, source):
        return 0

    def note(self, source, target):
        pass


def test_silenced_and_inhibited_outcomes_are_in_the_history_with_their_ids(tmp_path, es_node, es_client, es_prefix):
    prefix = prefix_of(es_prefix)
    wecom = WeComReceiver(FakeClock(datetime.now(timezone.utc)), keys=(KEY,)).start()
    cfg = parse_config(f"""
cluster: test
data_dir: {tmp_path / 'data'}
kubernetes: {{leader_election: {{enabled: false}}}}
elasticsearch: {{enabled: true, hosts: ["{es_node.url}"], index_prefix: {prefix}, bulk: {{flush_interval: 0.2s}}}}
notifiers:
  ops: {{type: wecom, url: "{wecom.base}/cgi-bin/webhook/send?key={KEY}"}}
routing: {{default: [ops]}}
""", "config.yaml", {})
    now = datetime.now(timezone.utc)
    silence = Silence(id="silence-e2e-1", matchers=(parse_matcher("namespace=quiet"),), starts_at=now,
                      ends_at=now + timedelta(hours=1), created_by="ops", comment="扩容中", created_at=now)
    source = replace(sample_alert("unhealthy"), cluster="test", incident="drop-1")
    silenced = replace(sample_alert("oom"), cluster="test", namespace="quiet", incident="s-1")
    resolved = replace(silenced, status="resolved", at=silenced.at + timedelta(seconds=1))
    inhibited = replace(sample_alert("oom"), cluster="test", key="shop/x/inhibited", incident="i-1")
    persistence = Persistence(cfg)
    metrics = Metrics("test")
    delivery = Delivery(cfg, metrics=metrics, record=persistence.record, delivered_ids=persistence.delivered_ids,
                        silences=lambda: Silences([silence]), inhibitor=OneSource(source))
    persistence.start()
    delivery.start()
    delivery.start_sending()
    try:
        for alert in (silenced, resolved, inhibited):
            delivery.submit(alert)
        wait_for(lambda: delivery.dispatcher.pending() == 0, timeout=30, what="all settled")
        ids = {a.id for a in (silenced, resolved, inhibited)}
        wait_for(lambda: persistence.sink.flush(1.0) and all(history_docs(es_client, f"{prefix}-alerts", i) for i in ids),
                 timeout=120, what="their history docs")
    finally:
        deadline = time.monotonic() + 5
        delivery.stop(deadline)
        persistence.stop(deadline)
        wecom.stop()
    assert wecom.accepted == []
    docs = {i: history_docs(es_client, f"{prefix}-alerts", i)[0] for i in ids}
    assert (docs[silenced.id]["result"], docs[silenced.id]["code"]) == ("silenced", silence.id)
    assert (docs[resolved.id]["result"], docs[resolved.id]["code"]) == ("silenced", silence.id)
    assert (docs[inhibited.id]["result"], docs[inhibited.id]["code"]) == ("inhibited", source.id)
    assert metrics.notifications.labels("ops", "wecom", "silenced")._value.get() == 2
    assert metrics.notifications.labels("ops", "wecom", "inhibited")._value.get() == 1
