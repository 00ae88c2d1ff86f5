"""Nothing lost across an Elasticsearch outage or a daemon kill: the spool, end to end."""
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.es.helpers import Stats, events, fixed_clock, prefix_of, wait_for
from watcher.es import EsSink

pytestmark = pytest.mark.es
REPO = Path(__file__).resolve().parents[2]


def make_sink(client, prefix, spool_dir, stats, **kw):
    sink = EsSink(client, prefix=prefix, spool_dir=spool_dir, spool_max_bytes=10**8, flush_interval=0.2,
                  clock=fixed_clock, stats=stats, max_backoff=1.0, **kw)
    sink.install_templates()
    sink.start()
    return sink


def settled(stats):
    return stats.total("docs_indexed") + stats.total("docs_duplicate")


@pytest.mark.slow
def test_es_stopped_30s_while_5000_events_arrive(es_client, es_node, es_prefix, tmp_path):
    prefix, stats = prefix_of(es_prefix), Stats()
    sink = make_sink(es_client, prefix, tmp_path / "spool", stats)
    batch = events(5000)
    sink.put(batch[0])  # ES up: the first goes straight in
    wait_for(lambda: settled(stats) == 1, timeout=30, what="first event indexed")

    es_node.stop()
    outage_start = time.monotonic()
    # the other 4,999 arrive in bursts spread over the 30 s outage
    bursts = [batch[i:i + 500] for i in range(1, 5000, 500)]
    for n, burst in enumerate(bursts):
        for r in burst:
            sink.put(r)
        arrival = outage_start + (n + 1) * 30 / (len(bursts) + 1)
        time.sleep(max(0.0, arrival - time.monotonic()))  # pacing the arrivals, not waiting for a result
    wait_for(lambda: sink.status()["queued"] == 0, timeout=30, what="everything moved to the spool")
    st = sink.status()
    assert st["reachable"] is False and st["spooled_bytes"] > 0 and stats.gauge("es_up") == 0
    time.sleep(max(0.0, outage_start + 30 - time.monotonic()))

    es_node.start()
    wait_for(lambda: settled(stats) >= 5000 and sink.status()["spooled_bytes"] == 0, timeout=90,
             what="the spool replayed after ES came back")
    sink.stop(10)
    assert stats.gauge("es_up") == 1 and stats.total("docs_spooled") >= 4999
    alias = f"{prefix}-events"
    es_client.indices.refresh(index=alias)
    assert es_client.count(index=alias)["count"] == 5000  # all present, none twice
    ids = es_client.search(index=alias, size=0, aggs={"dupes": {"terms": {"field": "event_uid", "min_doc_count": 2}}})
    assert ids["aggregations"]["dupes"]["buckets"] == []


CHILD = textwrap.dedent("""
    import sys, time
    from elasticsearch import Elasticsearch
    from tests.es.helpers import events, fixed_clock
    from watcher.es import EsSink

    spool_dir, prefix = sys.argv[1], sys.argv[2]
    client = Elasticsearch("http://127.0.0.1:9", request_timeout=2)  # nothing listens: ES "down"
    sink = EsSink(client, prefix=prefix, spool_dir=spool_dir, spool_max_bytes=10**8, flush_interval=0.1,
                  clock=fixed_clock)
    sink.start()
    for r in events(2000):
        sink.put(r)
    while sink.status()["queued"]:
        time.sleep(0.01)
    print("SPOOLED", sink.status()["spooled_bytes"], flush=True)
    time.sleep(600)  # killed with SIGKILL before this ends
""")


def test_daemon_killed_with_a_full_spool_drains_it_after_restart(es_client, es_prefix, tmp_path):
    prefix, spool_dir = prefix_of(es_prefix), tmp_path / "spool"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(spool_dir), prefix], cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline()
        assert line.startswith("SPOOLED"), child.stderr.read()[-2000:] if child.poll() is not None else line
        assert int(line.split()[1]) > 0
    finally:
        child.kill()  # SIGKILL: no stop(), no flush
        child.wait(30)
    segments = sorted(spool_dir.glob("seg-*.jsonl"))
    assert segments
    with open(segments[-1], "ab") as fh:  # and the write the kill cut short
        fh.write(b'{"k":"events","i":"x","d":"torn')

    stats = Stats()
    sink = make_sink(es_client, prefix, spool_dir, stats)
    wait_for(lambda: sink.status()["spooled_bytes"] == 0, timeout=60, what="spool drained")
    sink.stop(5)
    assert settled(stats) == 2000 and sink.status()["spool_corrupt"] == 1
    alias = f"{prefix}-events"
    es_client.indices.refresh(index=alias)
    assert es_client.count(index=alias)["count"] == 2000
    assert not list(spool_dir.glob("seg-*.jsonl"))
