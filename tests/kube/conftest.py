"""Fixtures for tests/kube: the scripted fake apiserver and watcher construction."""
from __future__ import annotations

import threading

import pytest

from tests.kube.fakeapi import FakeApi
from tests.kube.helpers import Records, Stats
from watcher.kube import PODS, Watcher


@pytest.fixture
def fake_api():
    api = FakeApi()
    yield api
    api.close()


class WatchRig:
    """One Watcher on the fake API with recorded records, stats and (instant) sleeps."""

    def __init__(self, fake: FakeApi, spec=PODS, namespace: str | None = "ns") -> None:
        self.stop = threading.Event()
        self.records, self.stats, self.sleeps = Records(), Stats(), []
        self.watcher = Watcher(fake.api_client(), spec, namespace=namespace, cluster="c", sink=self.records,
                               stop=self.stop, watch_timeout=30, request_timeout=40, stats=self.stats,
                               sleep=self.sleeps.append)

    def start(self) -> "WatchRig":
        self.watcher.start()
        return self

    def close(self) -> None:
        self.stop.set()
        self.watcher.join(5)
        assert not self.watcher.is_alive(), "watcher did not stop"


@pytest.fixture
def rig(fake_api):
    rigs: list[WatchRig] = []

    def make(**kw) -> WatchRig:
        r = WatchRig(fake_api, **kw)
        rigs.append(r)
        return r

    yield make
    for r in rigs:
        r.close()


@pytest.fixture(scope="module")
def apiserver2(kube_control_plane):
    """A second apiserver on the same etcd, for changes while the first one is down."""
    from tests.kube.apiserver2 import SecondApiserver

    other = SecondApiserver(kube_control_plane)
    yield other
    other.stop()
