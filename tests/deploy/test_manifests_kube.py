"""The Kustomize base against the real kube-apiserver (tests/harness/kube.py): every object is
accepted with strict field validation, the pod passes Pod Security "restricted", and the
service account's token can do what the daemon needs and nothing more.

The base's objects are created in the test's namespace instead of kube-event-alerter (the
Namespace object itself is only dry-run), and the cluster-scoped ClusterRole/Binding get the
namespace as a suffix, so tests never collide; those two are deleted afterwards.
"""
from __future__ import annotations

import copy
import json
import urllib.parse

import pytest
from kubernetes.client import ApiException

from tests.deploy.manifests import (BASE, REPO, ApiObjects, assert_pod_admitted_restricted, enforce_restricted,
                                   load_yaml_docs, one, render)
from tests.harness.kube import connection, request

pytestmark = pytest.mark.kube

NS = "kube-event-alerter"
SA = "kube-event-alerter"
LEASE = "kube-event-alerter"


def _retarget(docs: list[dict], ns: str) -> list[dict]:
    """The base, moved from kube-event-alerter into namespace `ns`."""
    out = []
    for d in copy.deepcopy(docs):
        meta = d["metadata"]
        if d["kind"] in ("ClusterRole", "ClusterRoleBinding"):
            meta["name"] = f"{meta['name']}-{ns}"
        elif d["kind"] != "Namespace":
            assert meta["namespace"] == NS
            meta["namespace"] = ns
        if d["kind"] == "ClusterRoleBinding":
            d["roleRef"]["name"] = f"{d['roleRef']['name']}-{ns}"
        for s in d.get("subjects", []):
            s["namespace"] = ns
        out.append(d)
    return out


def _as(api, token: str, method: str, path: str, body=None, query=None) -> int:
    """One call with another bearer token; returns the HTTP status."""
    host, http, _ = connection(api)
    url = host + path + ("?" + urllib.parse.urlencode(query) if query else "")
    r = http.request(method, url, body=json.dumps(body).encode() if body is not None else None,
                     headers={"Authorization": f"Bearer {token}", "Accept": "application/json",
                              "Content-Type": "application/json"}, timeout=30.0)
    return r.status


def _allowed(api, token: str, verb: str, resource: str, group: str = "", namespace: str = "", name: str = "") -> bool:
    """SelfSubjectAccessReview with the service account's own token: what RBAC lets it do."""
    host, http, _ = connection(api)
    attrs = {"verb": verb, "resource": resource, "group": group, "namespace": namespace, "name": name}
    body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attrs}}
    r = http.request("POST", host + "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                     body=json.dumps(body).encode(), timeout=30.0,
                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    assert r.status == 201, r.data[:500]
    return json.loads(r.data)["status"]["allowed"]


@pytest.fixture
def applied(kube_control_plane, kube_namespace):
    """The base created in the test namespace (Namespace: dry-run); yields (api, ns, created)."""
    ns = kube_namespace
    docs = _retarget(render(BASE), ns)
    with kube_control_plane.api_client() as api, ApiObjects(api) as objects:
        for d in docs:
            objects.create(d, dry_run=d["kind"] == "Namespace")
        yield api, ns, objects.created


def _token(api, ns: str) -> str:
    tr = request(api, "POST", f"/api/v1/namespaces/{ns}/serviceaccounts/{SA}/token",
                 {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                  "spec": {"expirationSeconds": 600}})
    return tr["status"]["token"]


def test_every_base_object_is_accepted_with_strict_validation(applied):
    api, ns, created = applied
    kinds = {k for k, _ in created}
    assert {"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
            "ConfigMap", "Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy"} <= kinds
    dep = request(api, "GET", f"/apis/apps/v1/namespaces/{ns}/deployments/kube-event-alerter")
    csc = dep["spec"]["template"]["spec"]["containers"][0]["securityContext"]
    assert csc["readOnlyRootFilesystem"] is True and csc["capabilities"]["drop"] == ["ALL"]
    # The example Secret is valid too, and matches the volume the Deployment mounts.
    (secret,) = load_yaml_docs(REPO / "deploy" / "secret.example.yaml")
    secret["metadata"]["namespace"] = ns
    request(api, "POST", f"/api/v1/namespaces/{ns}/secrets", secret, query={"fieldValidation": "Strict"})
    vols = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
    assert vols["secrets"]["secret"]["secretName"] == secret["metadata"]["name"]


def test_strict_validation_is_real(applied):
    """Control: the apiserver does reject an unknown field, so acceptance above means something."""
    api, ns, _ = applied
    bad = copy.deepcopy(one(_retarget(render(BASE), ns), "Deployment"))
    bad["metadata"]["name"] = "typo"
    bad["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFileSystem"] = True
    with pytest.raises(ApiException) as e:
        request(api, "POST", f"/apis/apps/v1/namespaces/{ns}/deployments", bad,
                query={"fieldValidation": "Strict", "dryRun": "All"})
    assert e.value.status in (400, 422) and "readOnlyRootFileSystem" in (e.value.body or "")


def test_pod_passes_pod_security_restricted(applied):
    api, ns, _ = applied
    enforce_restricted(api, ns)
    assert_pod_admitted_restricted(api, ns, one(_retarget(render(BASE), ns), "Deployment"))


def test_service_account_can_watch_everything_it_needs(applied):
    api, ns, _ = applied
    token = _token(api, ns)
    for path in ("/api/v1/events", "/api/v1/pods", "/api/v1/endpoints",
                 "/apis/discovery.k8s.io/v1/endpointslices", f"/api/v1/namespaces/{ns}/pods"):
        assert _as(api, token, "GET", path, query={"limit": "1"}) == 200, path
    for resource, group in (("events", ""), ("pods", ""), ("endpoints", ""), ("endpointslices", "discovery.k8s.io")):
        assert _allowed(api, token, "watch", resource, group), resource
        assert _allowed(api, token, "list", resource, group, namespace="kube-system"), resource


def test_service_account_cannot_change_or_read_secrets(applied):
    api, ns, _ = applied
    token = _token(api, ns)
    assert _as(api, token, "GET", f"/api/v1/namespaces/{ns}/secrets") == 403
    assert _as(api, token, "GET", f"/api/v1/namespaces/{ns}/configmaps") == 403
    assert _as(api, token, "GET", "/api/v1/nodes") == 403
    denied = [("delete", "pods", ""), ("create", "pods", ""), ("patch", "pods", ""), ("create", "events", ""),
              ("update", "endpoints", ""), ("delete", "endpointslices", "discovery.k8s.io"),
              ("create", "pods/exec", ""), ("get", "pods/log", ""), ("create", "deployments", "apps"),
              ("escalate", "clusterroles", "rbac.authorization.k8s.io")]
    for verb, resource, group in denied:
        assert not _allowed(api, token, verb, resource, group, namespace=ns), (verb, resource)


def test_service_account_holds_only_its_own_lease(applied):
    api, ns, _ = applied
    token = _token(api, ns)
    leases = f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases"
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": LEASE},
             "spec": {"holderIdentity": "kea-0", "leaseDurationSeconds": 15}}
    assert _as(api, token, "POST", leases, lease) == 201
    assert _as(api, token, "GET", f"{leases}/{LEASE}") == 200
    current = request(api, "GET", f"{leases}/{LEASE}")
    current["spec"]["holderIdentity"] = "kea-1"
    assert _as(api, token, "PUT", f"{leases}/{LEASE}", current) == 200, "renew / take over"
    assert request(api, "GET", f"{leases}/{LEASE}")["spec"]["holderIdentity"] == "kea-1"
    assert _as(api, token, "DELETE", f"{leases}/{LEASE}") == 403
    assert _as(api, token, "GET", leases) == 403, "no list: other Leases are none of its business"
    # Someone else's Lease in the same namespace: not readable or writable.
    other = copy.deepcopy(lease)
    other["metadata"]["name"] = "someone-else"
    request(api, "POST", leases, other)
    assert _as(api, token, "GET", f"{leases}/someone-else") == 403
    theirs = request(api, "GET", f"{leases}/someone-else")
    theirs["spec"]["holderIdentity"] = "kea-0"
    assert _as(api, token, "PUT", f"{leases}/someone-else", theirs) == 403
    # ... and no Lease rights outside its own namespace.
    assert not _allowed(api, token, "create", "leases", "coordination.k8s.io", namespace="kube-system")
    assert not _allowed(api, token, "get", "leases", "coordination.k8s.io", namespace="kube-system", name=LEASE)
