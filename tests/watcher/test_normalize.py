import pytest

from tests.factories import at, endpoint_slice, event, oom, pod
from watcher.normalize import MalformedObject, normalize


def test_pod_fields_and_deployment_owner():
    r = normalize("MODIFIED", pod(restarts=2, last=oom(100), ready=False), cluster="c1")
    assert (r.kind, r.cluster, r.namespace, r.workload) == ("Pod", "c1", "shop", "Deployment/web")
    c = r.pod.containers[0]
    assert (c.restart_count, c.ready, c.memory_limit) == (2, False, "512Mi")
    assert (c.last_terminated.reason, c.last_terminated.exit_code, c.last_terminated.finished_at) == ("OOMKilled", 137, at(100))
    assert r.timestamp == at(100) and r.pod.node == "node-1"


@pytest.mark.parametrize("owner, labels, expected", [
    ({"kind": "ReplicaSet", "name": "api-7f9c4d5b8"}, {"pod-template-hash": "7f9c4d5b8"}, "Deployment/api"),
    ({"kind": "ReplicaSet", "name": "my-app-v2-5d9c7"}, {}, "Deployment/my-app-v2"),
    ({"kind": "StatefulSet", "name": "db"}, {}, "StatefulSet/db"),
    ({"kind": "Job", "name": "backup-29000000"}, {}, "CronJob/backup"),
    (None, {}, "Pod/p"),
])
def test_owner_workload(owner, labels, expected):
    obj = {"kind": "Pod", "metadata": {"name": "p", "labels": labels,
                                       **({"ownerReferences": [{**owner, "controller": True}]} if owner else {})}}
    assert normalize("ADDED", obj, cluster="c").workload == expected


def test_event_fields():
    r = normalize("MODIFIED", event(count=3, last=50, first=10), cluster="c")
    e = r.event
    assert (e.reason, e.type, e.count, e.involved_kind, e.host, e.component) == ("BackOff", "Warning", 3, "Pod", "node-1", "kubelet")
    assert (e.first_timestamp, r.timestamp) == (at(10), at(50))


def test_events_k8s_io_shape_is_read():
    obj = {"kind": "Event", "metadata": {"name": "e", "namespace": "n"}, "regarding": {"kind": "Pod", "name": "p"},
           "note": "hello", "reason": "X", "type": "Normal", "eventTime": "2026-11-20T02:00:05.123456Z",
           "series": {"count": 4, "lastObservedTime": "2026-11-20T02:00:09.000000Z"}, "reportingController": "c"}
    r = normalize("ADDED", obj, cluster="c")
    assert (r.event.message, r.event.count, r.timestamp, r.event.involved_name) == ("hello", 4, at(9), "p")


def test_endpoint_slice_conditions():
    obj = endpoint_slice([True, False, True], terminating=[False, False, True], change=7)
    obj["endpoints"][0]["conditions"] = {}  # nil ready means ready
    r = normalize("MODIFIED", obj, cluster="c")
    ep = r.endpoints
    assert (ep.service, ep.ready, ep.not_ready, ep.terminating) == ("web", 1, 1, 1)
    assert r.timestamp == at(7) and r.workload == "Service/web"
    assert ep.addresses[1].pod == "web-pod-1" and ep.addresses[1].node == "node-1"


def test_annotations_drop_last_applied():
    obj = pod()
    obj["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": "{...}", "owner": "li"}
    assert normalize("ADDED", obj, cluster="c").annotations == {"owner": "li"}


@pytest.mark.parametrize("watch_type, obj, reason", [
    ("ADDED", [], "not_an_object"),
    ("ADDED", {"kind": "Node", "metadata": {"name": "x"}}, "unknown_kind"),
    ("ADDED", {"kind": "Pod", "metadata": {}}, "no_name"),
    ("BOOKMARK", {"kind": "Pod", "metadata": {"name": "x"}}, "bad_watch_type"),
    ("ADDED", {"kind": "Pod", "metadata": {"name": "x"}, "status": {"containerStatuses": {}}}, "bad_field"),
    ("ADDED", {"kind": "Pod", "metadata": {"name": "x"}, "status": {"containerStatuses": [{"restartCount": "2"}]}}, "bad_field"),
    ("ADDED", {"kind": "Event", "metadata": {"name": "x"}, "lastTimestamp": "yesterday"}, "bad_timestamp"),
    ("ADDED", {"kind": "EndpointSlice", "metadata": {"name": "x"}}, "no_service"),
])
def test_malformed_objects_raise_with_reason(watch_type, obj, reason):
    with pytest.raises(MalformedObject) as err:
        normalize(watch_type, obj, cluster="c")
    assert err.value.reason == reason
