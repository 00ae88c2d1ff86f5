"""The Helm chart, rendered by the real helm for each value set, against the real kube-apiserver
(tests/harness/kube.py), as test_manifests_kube.py does for the Kustomize base: every object
is accepted with strict field validation, the pod passes Pod Security "restricted", and the
service account of a release can watch and hold its Lease but not read Secrets.

Each test renders a release named after its namespace into that namespace (`helm template
-n`), so the cluster-scoped ClusterRole/Binding get unique names; they are deleted afterwards.
The Prometheus Operator's kinds (ServiceMonitor, PrometheusRule) are not sent: the test
apiserver has no monitoring.coreos.com CRDs (test_chart.py checks their content and
test_prometheus_rules.py the rules with promtool).
"""
from __future__ import annotations

import copy

import pytest

from tests.deploy.manifests import ApiObjects, assert_pod_admitted_restricted, enforce_restricted, one
from tests.deploy.test_chart import VALUE_SETS, template, values_args
from tests.deploy.gotools import tool
from tests.deploy.test_manifests_kube import _allowed, _as
from tests.harness.kube import request

pytestmark = pytest.mark.kube

OPERATOR_KINDS = {"ServiceMonitor", "PrometheusRule"}


@pytest.fixture
def release(kube_control_plane, kube_namespace):
    """apply(value_set) renders the chart as release <ns> in <ns> and creates it; yields it."""
    helm = tool("helm")
    with kube_control_plane.api_client() as api, ApiObjects(api) as objects:
        def apply(value_set: str, *args: str) -> tuple[list[dict], dict]:
            docs = template(helm, *values_args(value_set), *args, release=kube_namespace, namespace=kube_namespace)
            before = set(objects.created)
            for d in docs:
                if d["kind"] not in OPERATOR_KINDS:
                    objects.create(d)
            return docs, {k: v for k, v in objects.created.items() if k not in before}
        yield api, kube_namespace, apply


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_every_object_is_accepted_and_the_pod_is_restricted(release, value_set):
    api, ns, apply = release
    enforce_restricted(api, ns)
    docs, created = apply(value_set)
    kinds = {k for k, _ in created}
    assert {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ConfigMap",
            "Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy"} <= kinds
    assert ("Secret" in kinds) == (value_set == "secret-values")
    assert_pod_admitted_restricted(api, ns, one(docs, "Deployment"))


def test_the_namespace_object_is_valid_too(release):
    """namespace.create (what the Kustomize base uses): dry-run, it must not replace the test's."""
    api, ns, _ = release
    docs = template(tool("helm"), "--set", "namespace.create=true", release=ns, namespace=ns)
    (nsdoc,) = [d for d in docs if d["kind"] == "Namespace"]
    nsdoc = copy.deepcopy(nsdoc)
    nsdoc["metadata"]["name"] = f"{ns}-dry"
    request(api, "POST", "/api/v1/namespaces", nsdoc, query={"dryRun": "All", "fieldValidation": "Strict"})


def test_a_releases_service_account_watches_and_holds_only_its_lease(release):
    api, ns, apply = release
    docs, _ = apply("defaults")
    sa = one(docs, "ServiceAccount")["metadata"]["name"]
    assert sa == f"{ns}-kube-event-alerter"
    tr = request(api, "POST", f"/api/v1/namespaces/{ns}/serviceaccounts/{sa}/token",
                 {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                  "spec": {"expirationSeconds": 600}})
    token = tr["status"]["token"]
    for path in ("/api/v1/events", "/api/v1/pods", "/apis/discovery.k8s.io/v1/endpointslices"):
        assert _as(api, token, "GET", path, query={"limit": "1"}) == 200, path
    assert _as(api, token, "GET", f"/api/v1/namespaces/{ns}/secrets") == 403
    assert _allowed(api, token, "update", "leases", "coordination.k8s.io", namespace=ns, name="kube-event-alerter")
    assert not _allowed(api, token, "update", "leases", "coordination.k8s.io", namespace=ns, name="other")
    assert not _allowed(api, token, "delete", "pods", "", namespace=ns)
