"""What a watcher remembers per object, and the relist diff built on it."""
from tests.kube.fakeapi import pod
from watcher.kube.resources import ENDPOINT_SLICES, ENDPOINTS, EVENTS, PODS, KnownObjects, ListDiff
from watcher.normalize import normalize


def test_diff_reports_new_changed_and_gone_and_skips_unchanged():
    known = KnownObjects(PODS)
    for name, rv in (("a", 1), ("b", 2), ("c", 3)):
        known.remember(f"uid-{name}", str(rv), pod(name, rv))
    diff = ListDiff(known)
    assert diff.change("uid-a", "1") is None
    assert diff.change("uid-b", "9") == "MODIFIED"
    assert diff.change("uid-d", "10") == "ADDED"
    assert diff.gone() == ["uid-c"] and diff.unchanged == 1


def test_pod_stub_is_a_deleted_record_naming_its_containers_and_labels():
    known = KnownObjects(PODS)
    obj = pod("web-1", 5)
    obj["status"]["initContainerStatuses"] = [{"name": "init", "restartCount": 0}]
    known.remember("u1", "5", obj)
    rec = normalize("DELETED", known.stub("u1"), cluster="c", kind="Pod")
    assert (rec.name, rec.namespace, rec.uid, rec.resource_version, rec.watch_type) == ("web-1", "ns", "u1", "5", "DELETED")
    assert sorted((c.name, c.init) for c in rec.pod.containers) == [("app", False), ("init", True)]
    assert rec.labels == {"app": "web-1"}


def test_endpointslice_stub_keeps_the_service_label():
    known = KnownObjects(ENDPOINT_SLICES)
    known.remember("u2", "7", {"metadata": {"name": "web-x1", "namespace": "shop",
                                            "labels": {"kubernetes.io/service-name": "web"}},
                               "endpoints": [{"addresses": ["10.0.0.1"]}] * 50})
    rec = normalize("DELETED", known.stub("u2"), cluster="c", kind="EndpointSlice")
    assert rec.endpoints.service == "web" and rec.endpoints.addresses == ()


def test_endpoints_and_event_stubs_normalise():
    known = KnownObjects(ENDPOINTS)
    known.remember("u3", "8", {"metadata": {"name": "web", "namespace": "shop"}})
    assert normalize("DELETED", known.stub("u3"), cluster="c", kind="Endpoints").endpoints.service == "web"
    events = KnownObjects(EVENTS)
    events.remember("u4", "9", {"metadata": {"name": "web.1", "namespace": "shop", "labels": {"x": "y"}},
                                "message": "long text " * 100})
    stub = events.stub("u4")
    assert "labels" not in stub["metadata"] and "message" not in stub
    assert normalize("DELETED", stub, cluster="c", kind="Event").name == "web.1"
