"""Backoff while the apiserver refuses connections: short, jittered, and not inherited by the
server's own errors once it answers again."""
import socket

from tests.kube.conftest import WatchRig
from tests.kube.helpers import wait_until
from watcher.kube.client import Backoff

REFUSED_CAP = 2.0


class _RefusingApi:
    """A kubernetes ApiClient stand-in pointing at a loopback port nobody listens on."""

    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        from kubernetes import client

        cfg = client.Configuration()
        cfg.host = f"http://127.0.0.1:{port}"
        self._client = client.ApiClient(cfg)

    def api_client(self):
        return self._client


def test_refused_connections_are_retried_within_a_short_jittered_cap():
    r = WatchRig(_RefusingApi()).start()
    try:
        wait_until(lambda: len(r.sleeps) >= 20, 30, "20 failed connection attempts")
    finally:
        r.close()
    delays = r.sleeps[:20]
    assert max(delays) <= REFUSED_CAP, delays
    assert r.stats.reasons("watch_reconnects")["connection"] >= 20, "a refused connection is not a timeout"
    assert len(set(delays)) > 10, f"not jittered: {delays}"
    assert not r.stats.count("watch_relists"), "an unreachable server is no reason to relist"


def test_server_errors_after_refusals_start_from_the_short_end():
    backoff = Backoff(initial=0.5, maximum=30.0, refused_maximum=2.0)
    for _ in range(12):
        assert backoff.next(refused=True) <= 2.0
    # The server answers again, with a 503: its first retry is not the twelfth step of a curve.
    assert backoff.next() <= 1.0
    for _ in range(10):
        backoff.next()
    assert backoff.maximum == 30.0 and backoff.answered_failures == 11
