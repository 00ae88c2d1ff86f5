"""Start-up with history in the cluster: 1,000 Events and a Pod that was OOM-killed before the
daemon started produce zero alerts; the first real change after start-up does alert."""
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest

from tests.harness import kube
from tests.kube.stack import Stack, rules
from watcher.kube import EVENTS, PODS

pytestmark = pytest.mark.kube

WARNINGS = """
name: warnings
source: event
match: {type: Warning}
detector: any
"""


def test_history_primes_state_and_fires_nothing(kube_control_plane, kube_namespace):
    cp, ns = kube_control_plane, kube_namespace
    with cp.api_client() as api:
        # History is what happened before the daemon's start second; an OOM or an Event in that
        # second itself is news (it may have happened after the start). This history is older.
        before = (datetime.now(timezone.utc) - timedelta(seconds=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
        pod = kube.create_pod(api, ns, "old-oom")
        oom = kube.terminated("OOMKilled", 137, started_at=before, finished_at=before)
        kube.patch_pod_status(api, ns, "old-oom", container_statuses=[
            kube.container_status("app", restart_count=3, last_state=oom)])
        with ThreadPoolExecutor(8) as pool:
            events = list(pool.map(lambda i: kube.create_event(api, ns, pod, "BackOff", "Warning", f"back-off {i}",
                                                           first_timestamp=before, last_timestamp=before),
                                   range(1000)))
        # Cluster-wide Events (paged: more than one LIST page), the namespace's Pods.
        s = Stack(cp, namespace=None, specs=[EVENTS], rule_list=rules(WARNINGS))
        pods = Stack(cp, namespace=ns, specs=[PODS])
        with s, pods:
            assert s.delivered.items == [] and pods.delivered.items == []
            listed = [r for r in s.records.items if r.namespace == ns]
            assert len(listed) == 1000 and all(r.listed for r in listed)
            assert len(pods.records) == 1 and pods.records.items[0].listed

            # A status rewrite of the old pod without a new restart: still history.
            p = kube.patch_pod_status(api, ns, "old-oom", container_statuses=[
                kube.container_status("app", ready=False, restart_count=3, last_state=oom)])
            pods.settle(p["metadata"]["resourceVersion"])
            assert pods.delivered.items == []

            # The recorder bumping one event (count 2) is a new occurrence: one alert.
            ev = kube.bump_event(api, ns, events[500]["metadata"]["name"])
            s.settle(ev["metadata"]["resourceVersion"])
            [alert] = s.delivered.items
            assert (alert.rule, alert.fields["reason"], alert.count) == ("warnings", "BackOff", 1)
            assert s.stats.count("watch_events", resource="events", type="MODIFIED") >= 1
