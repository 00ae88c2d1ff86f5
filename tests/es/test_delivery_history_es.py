"""The alert history records what the notify path delivered, whichever process delivers it:
an entry one process left in its outbox and the next process delivered has its history doc
(the outcome carries the alerts; no in-process cache of "recent" alerts)."""
import time
from dataclasses import replace
from datetime import datetime, timezone

import pytest

from notifiers import sample_alert
from tests.es.helpers import polled_hits, prefix_of, wait_for
from tests.notifiers.receivers import FakeClock, WeComReceiver
from watcher.config import parse_config
from watcher.metrics import Metrics
from watcher.delivery import Delivery
from watcher.persistence import Persistence

pytestmark = pytest.mark.es

KEY = "wk-history-0f1e2d3c"


@pytest.fixture
def wecom():
    rx = WeComReceiver(FakeClock(datetime.now(timezone.utc)), keys=(KEY,)).start()
    yield rx
    rx.stop()


def components(tmp_path, es_node, prefix, wecom, dev=""):
    cfg = parse_config(f"""
cluster: test
data_dir: {tmp_path / 'data'}
kubernetes: {{leader_election: {{enabled: false}}}}
elasticsearch: {{enabled: true, hosts: ["{es_node.url}"], index_prefix: {prefix}, bulk: {{flush_interval: 0.2s}}}}
notifiers:
  ops: {{type: wecom, url: "{wecom.base}/cgi-bin/webhook/send?key={KEY}"}}
{dev}routing: {{default: [ops{', dev' if dev else ''}]}}
""", "config.yaml", {})
    return Parts(cfg)


class Parts:
    """The daemon's delivery side on its persistence, as watcher/assembly.py connects them."""

    def __init__(self, cfg):
        self.persistence = Persistence(cfg)
        self.delivery = Delivery(cfg, metrics=Metrics("test"), record=self.persistence.record,
                                 delivered_ids=self.persistence.delivered_ids)
        self.history, self.sink = self.persistence.history, self.persistence.sink
        self.dispatcher = self.delivery.dispatcher
        self.submit, self.start_sending = self.delivery.submit, self.delivery.start_sending
        self.known_delivered = self.delivery.known_delivered

    def start_delivery(self):
        self.persistence.start()
        self.delivery.start()

    def stop_delivery(self, seconds):
        deadline = time.monotonic() + seconds
        self.delivery.stop(deadline)
        left = self.delivery.dispatcher.pending()
        self.persistence.stop(deadline)
        return left


def history_docs(es_client, index, alert_id):
    return polled_hits(es_client, index, {"term": {"alert_id": alert_id}})


def test_an_entry_delivered_by_the_next_process_reaches_the_history(tmp_path, es_node, es_client, es_prefix, wecom):
    prefix = prefix_of(es_prefix).rstrip("-")
    alert = sample_alert("oom")
    first = components(tmp_path, es_node, prefix, wecom)
    first.submit(alert)  # never leads: the entry stays in the outbox
    assert first.stop_delivery(1.0) == 1

    second = components(tmp_path, es_node, prefix, wecom)
    second.start_delivery()
    second.start_sending()
    try:
        wait_for(lambda: len(wecom.accepted) == 1, timeout=30, what="the entry from before, delivered")
        # A loaded node may answer 503 for a while: the sink spools and replays; wait for it.
        wait_for(lambda: second.sink.flush(1.0) and history_docs(es_client, f"{prefix}-alerts", alert.id),
                 timeout=120, what="its history doc")
    finally:
        second.stop_delivery(5.0)
    (doc,) = history_docs(es_client, f"{prefix}-alerts", alert.id)
    assert (doc["notifier"], doc["result"], doc["delivery_id"]) == ("ops", "sent", f"{alert.id}|ops")


def test_a_new_leader_skips_exactly_the_robots_the_history_has_as_sent(tmp_path, es_node, es_client, es_prefix,
                                                                         wecom):
    prefix = prefix_of(es_prefix).rstrip("-")
    dev = f'  dev: {{type: wecom, url: "{wecom.base}/cgi-bin/webhook/send?key={KEY}&robot=dev"}}\n'
    parts = components(tmp_path, es_node, prefix, wecom, dev=dev)
    alert = replace(sample_alert("oom"), cluster="test")
    assert parts.history.record(alert, notifier="ops", result="sent", code="0")  # the old leader: ops only
    assert parts.history.record(alert, notifier="dev", result="failed", code="93000")
    es_client.indices.refresh(index=f"{prefix}-alerts")
    known = parts.known_delivered()
    assert f"ops|{alert.id}" in known and f"dev|{alert.id}" not in known
    parts.start_delivery()
    parts.start_sending()
    try:
        assert parts.dispatcher.submit(alert) == [f"dev|{alert.id}"]
        wait_for(lambda: len(wecom.accepted) == 1, timeout=20, what="the alert, to dev only")
    finally:
        parts.stop_delivery(5.0)
    assert wecom.accepted[0].query.get("robot") == ["dev"]
