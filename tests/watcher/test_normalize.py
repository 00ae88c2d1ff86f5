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
    # A bare ReplicaSet (no pod-template-hash label on its Pods) is not a Deployment's.
    ({"kind": "ReplicaSet", "name": "my-app-v2-5d9c7"}, {}, "ReplicaSet/my-app-v2-5d9c7"),
    ({"kind": "ReplicaSet", "name": "web-5d9c7"}, {"pod-template-hash": "7f9c4d5b8"}, "ReplicaSet/web-5d9c7"),
    ({"kind": "ReplicaSet", "name": "5d9c7"}, {"pod-template-hash": "5d9c7"}, "ReplicaSet/5d9c7"),
    ({"kind": "StatefulSet", "name": "db"}, {}, "StatefulSet/db"),
    ({"kind": "Job", "name": "backup-29000000"}, {}, "CronJob/backup"),
    (None, {}, "Pod/p"),
])
def test_owner_workload(owner, labels, expected):
    obj = {"kind": "Pod", "metadata": {"name": "p", "labels": labels,
                                       **({"ownerReferences": [{**owner, "controller": True}]} if owner else {})}}
    assert normalize("ADDED", obj, cluster="c").workload == expected


@pytest.mark.parametrize("job, created, expected", [
    # The CronJob controller names Jobs `<cronjob>-<scheduled time in minutes since the epoch>`.
    ("backup-29000000", "2025-02-20T13:21:10Z", "CronJob/backup"),
    # A hand-made Job named by date is not a CronJob's: that "schedule" would be in 2008.
    ("backup-20250101", "2025-01-01T03:00:00Z", "Job/backup-20250101"),
    # A Pod cannot start before its Job was scheduled.
    ("backup-29000000", "2025-01-01T00:00:00Z", "Job/backup-29000000"),
    ("backup-290000001", "2025-02-20T13:21:10Z", "Job/backup-290000001"),
])
def test_job_owner_is_a_cronjob_only_when_the_name_is_its_schedule(job, created, expected):
    obj = {"kind": "Pod", "metadata": {"name": "p", "creationTimestamp": created,
                                       "ownerReferences": [{"kind": "Job", "name": job, "controller": True}]}}
    assert normalize("ADDED", obj, cluster="c").workload == expected


def test_ephemeral_containers_are_read():
    obj = pod()
    obj["spec"]["ephemeralContainers"] = [{"name": "debugger", "image": "busybox", "targetContainerName": "app"}]
    obj["status"]["ephemeralContainerStatuses"] = [{
        "name": "debugger", "ready": False, "restartCount": 0, "state": {"terminated": oom(100)}, "lastState": {}}]
    r = normalize("MODIFIED", obj, cluster="c")
    app, debugger = r.pod.containers
    assert (app.name, app.ephemeral) == ("app", False)
    assert (debugger.name, debugger.init, debugger.ephemeral, debugger.state) == ("debugger", False, True, "terminated")
    assert (debugger.terminated.reason, debugger.terminated.exit_code) == ("OOMKilled", 137)
    assert r.timestamp == at(100)


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
    # found by the property: in range as written, out of range in UTC (an OverflowError)
    ("ADDED", {"kind": "Event", "metadata": {"name": "x"}, "lastTimestamp": "9999-12-31T23:59:59-01:00"}, "bad_timestamp"),
    ("ADDED", {"kind": "Pod", "metadata": {"name": "x", "creationTimestamp": "0001-01-01T00:00:00+01:00"}}, "bad_timestamp"),
    ("ADDED", {"kind": "EndpointSlice", "metadata": {"name": "x"}}, "no_service"),
    ("ADDED", {"kind": "Pod", "metadata": {"name": "x"}, "status": {"ephemeralContainerStatuses": {}}}, "bad_field"),
])
def test_malformed_objects_raise_with_reason(watch_type, obj, reason):
    with pytest.raises(MalformedObject) as err:
        normalize(watch_type, obj, cluster="c")
    assert err.value.reason == reason
