"""Configured field selectors reach the apiserver: with `event_field_selector: type!=Normal`
only Warning Events are streamed."""
import threading

import pytest

from tests.harness import kube
from tests.kube.helpers import wait_until
from watcher.config import Kubernetes
from watcher.kube import sources_for

pytestmark = pytest.mark.kube


def test_event_field_selector_filters_on_the_server(kube_control_plane, kube_namespace):
    ns, got, stop = kube_namespace, [], threading.Event()
    cfg = Kubernetes(namespaces=[ns], pods=False, endpoints="endpoints", event_field_selector="type!=Normal")
    with kube_control_plane.api_client() as api:
        watchers = [w for w in sources_for(cfg, api, cluster="t", sink=got.append, stop=stop) if w.spec.name == "events"]
        assert [w.spec.field_selector for w in watchers] == ["type!=Normal"]
        try:
            for w in watchers:
                w.start()
            wait_until(lambda: all(w.listed.is_set() for w in watchers), 20, "the initial list")
            ref = {"kind": "Pod", "name": "web-1", "namespace": ns}
            kube.create_event(api, ns, ref, "Pulled", "Normal", "pulled", name="e-normal")
            kube.create_event(api, ns, ref, "BackOff", "Warning", "back-off", name="e-warning")
            wait_until(lambda: any(r.name == "e-warning" for r in got), 20, "the Warning event")
        finally:
            stop.set()
            for w in watchers:
                w.join(5)
    assert [r.name for r in got if not r.listed] == ["e-warning"]
