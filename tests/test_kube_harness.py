"""Smoke tests of tests/harness/kube.py against the real kube-apiserver + etcd."""

import json

import pytest
from kubernetes import client

from tests.harness import kube

pytestmark = pytest.mark.kube


def _first_watch_line(cp, path, resource_version):
    """Open a raw watch from ``resource_version``: (HTTP status, first event or None)."""
    with cp.api_client() as api:
        host, http, headers = kube.connection(api)
        r = http.request("GET", f"{host}{path}?watch=1&resourceVersion={resource_version}",
                         headers=headers, preload_content=False, timeout=10.0)
        try:
            if r.status != 200:
                return r.status, None
            line = b""
            for chunk in r.stream(1024):
                line += chunk
                if b"\n" in line:
                    return r.status, json.loads(line.split(b"\n", 1)[0])
            return r.status, None
        finally:
            r.release_conn()


def test_version_is_pinned(kube_control_plane):
    with kube_control_plane.api_client() as api:
        assert kube.request(api, "GET", "/version")["gitVersion"] == kube.KUBE_VERSION


def test_pod_oomkilled_status_roundtrip(kube_control_plane, kube_namespace):
    ns = kube_namespace
    with kube_control_plane.api_client() as api:
        kube.create_pod(api, ns, "web-1", ["app"], labels={"app": "web"},
                        owner_rs="web-5d4f", node_name="node-a")
        kube.patch_pod_status(
            api, ns, "web-1", pod_ip="10.1.0.5", host_ip="192.0.2.10",
            container_statuses=[kube.container_status(
                "app", restart_count=1, last_state=kube.terminated("OOMKilled", 137))])
        pod = client.CoreV1Api(api).read_namespaced_pod("web-1", ns)  # the typed client too
    cs = pod.status.container_statuses[0]
    assert (cs.restart_count, cs.last_state.terminated.reason,
            cs.last_state.terminated.exit_code) == (1, "OOMKilled", 137)
    assert pod.status.pod_ip == "10.1.0.5" and pod.spec.node_name == "node-a"
    assert pod.metadata.owner_references[0].kind == "ReplicaSet"


def test_events_and_endpoints(kube_control_plane, kube_namespace):
    ns = kube_namespace
    with kube_control_plane.api_client() as api:
        pod = kube.create_pod(api, ns, "db-0")
        ev = kube.create_event(api, ns, pod, "BackOff", "Warning", "Back-off restarting")
        ev = kube.bump_event(api, ns, ev["metadata"]["name"])
        assert ev["count"] == 2 and ev["involvedObject"]["uid"] == pod["metadata"]["uid"]

        kube.apply_endpointslice(api, ns, "db", [("10.1.0.7", True, "node-a", "db-0")])
        es = kube.apply_endpointslice(api, ns, "db", [("10.1.0.7", False, "node-a", "db-0")])
        assert es["endpoints"][0]["conditions"]["ready"] is False
        assert es["metadata"]["labels"]["kubernetes.io/service-name"] == "db"
        ep = kube.apply_endpoints(api, ns, "db", [("10.1.0.7", False), ("10.1.0.8",)])
        assert [a["ip"] for a in ep["subsets"][0]["notReadyAddresses"]] == ["10.1.0.7"]
        assert [a["ip"] for a in ep["subsets"][0]["addresses"]] == ["10.1.0.8"]


def test_watch_after_compaction_gets_410(kube_control_plane, kube_namespace):
    ns, cp = kube_namespace, kube_control_plane
    with cp.api_client() as api:
        old_rv = kube.create_pod(api, ns, "p")["metadata"]["resourceVersion"]
        kube.patch_pod_status(api, ns, "p", phase="Running")  # a newer revision
    path = f"/api/v1/namespaces/{ns}/pods"
    status, event = _first_watch_line(cp, path, old_rv)  # still resumable: replays the patch
    assert status == 200 and event["type"] == "MODIFIED", (status, event)
    assert cp.compact_etcd() > int(old_rv)
    status, event = _first_watch_line(cp, path, old_rv)
    gone = status == 410 or (event and event["type"] == "ERROR" and event["object"]["code"] == 410)
    assert gone, json.dumps(event)


def test_apiserver_restart_keeps_data(kube_control_plane, kube_namespace):
    cp, ns = kube_control_plane, kube_namespace
    with cp.api_client() as api:
        kube.create_pod(api, ns, "survivor")
    url = cp.url
    cp.stop_apiserver()
    cp.start_apiserver()
    assert cp.url == url
    with cp.api_client() as api:
        assert kube.request(api, "GET", f"/api/v1/namespaces/{ns}/pods/survivor")["metadata"]
