"""/metrics while the daemon starts: scrapeable before any watcher has seen an event, and a
500 with a log line, not an empty reply, when a collector fails."""
from __future__ import annotations

import logging
import urllib.error
import urllib.request

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from watcher.health import Health, StatusServer
from watcher.metrics import Metrics
from watcher.sourcing import _last_event_of


class _NotListedYet:
    """A watcher still in its first LIST (or with the apiserver down since start)."""

    last_event_monotonic = None


def test_a_watcher_without_a_first_event_leaves_the_metrics_scrapeable():
    """The age gauge's source wrapped None in float(): every scrape raised until each watcher
    had listed, so /metrics was an empty reply during a big first LIST, and for as long as
    the apiserver was unreachable after a start."""
    metrics = Metrics()
    metrics.watch_age("events", _last_event_of(_NotListedYet()))
    text = generate_latest(metrics.registry).decode()
    assert "kea_watch_seconds_since_last_event" in text
    assert 'kea_watch_seconds_since_last_event{resource="events"}' not in text  # no age yet: no sample


class _Broken:
    def describe(self):
        return []

    def collect(self):
        raise RuntimeError("collector bug")


@pytest.fixture
def server():
    registry = CollectorRegistry()
    registry.register(_Broken())
    s = StatusServer("127.0.0.1", 0, health=Health(), registry=registry)
    s.start()
    yield s
    s.stop()


def test_a_failing_collector_gets_a_500_and_a_log_line_not_an_empty_reply(server, caplog):
    caplog.set_level(logging.ERROR, logger="kea.health")
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=10)
    assert answer.value.code == 500
    assert any("metrics" in r.getMessage() and r.exc_info for r in caplog.records)
    ok = urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz", timeout=10)
    assert ok.status == 200  # the server itself is fine
