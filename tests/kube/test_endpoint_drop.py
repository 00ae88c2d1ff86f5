"""Endpoint health on the real apiserver: one of two ready endpoints turning not-ready is one
unhealthy alert (1/2 ready); turning ready again is one resolved alert."""
import pytest

from tests.harness import kube
from tests.kube.stack import Stack, rules
from watcher.kube import ENDPOINT_SLICES

pytestmark = pytest.mark.kube

IMMEDIATE = """
name: endpoints-unhealthy
source: endpoints
detector: {type: endpoints_unhealthy}
severity: critical
group_by: [namespace, service]
for: 0s
"""


def test_endpoint_drop_and_recovery_alert_once_each(kube_control_plane, kube_namespace):
    cp, ns = kube_control_plane, kube_namespace
    both_ready = [("10.1.0.1", True, "node-a", "web-1"), ("10.1.0.2", True, "node-b", "web-2")]
    with cp.api_client() as api:
        kube.apply_endpointslice(api, ns, "web", both_ready)
        with Stack(cp, namespace=ns, specs=[ENDPOINT_SLICES], rule_list=rules(IMMEDIATE)) as s:
            assert s.delivered.items == []  # healthy at start: nothing
            es = kube.apply_endpointslice(api, ns, "web", [both_ready[0], ("10.1.0.2", False, "node-b", "web-2")])
            s.settle(es["metadata"]["resourceVersion"])
            [firing] = s.delivered.items
            assert (firing.rule, firing.status, firing.kind, firing.name) == ("endpoints-unhealthy", "firing", "Service", "web")
            assert (firing.fields["ready"], firing.fields["total"]) == (1, 2)
            assert [a["ip"] for a in firing.fields["unhealthy_addresses"]] == ["10.1.0.2"]

            # The same unhealthy state written again (no change in readiness) adds nothing.
            es = kube.apply_endpointslice(api, ns, "web", [both_ready[0], ("10.1.0.2", False, "node-b", "web-2")],
                                          port=8080)
            s.settle(es["metadata"]["resourceVersion"])
            assert len(s.delivered) == 1

            es = kube.apply_endpointslice(api, ns, "web", both_ready)
            s.settle(es["metadata"]["resourceVersion"])
            assert [a.status for a in s.delivered.items] == ["firing", "resolved"]
            resolved = s.delivered.items[1]
            assert (resolved.fields["ready"], resolved.fields["total"]) == (2, 2)
            assert resolved.incident == firing.incident
