"""Hypothesis strategies for the objects the apiserver sends: well-formed Pods, Events and
EndpointSlices of every shape the normaliser reads, `damage` to make them malformed, and
arbitrary JSON values (used by test_properties.py and test_normalize_compiled.py)."""
from datetime import datetime

from hypothesis import strategies as st

scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.text(max_size=12), st.floats(allow_nan=False))
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(st.text(max_size=10), inner, max_size=5)), max_leaves=25)

# -- well-formed objects, the way the apiserver writes them -----------------------------------
# The normaliser's checks on kind, metadata and name come first; objects that fail them never
# reach the Pod, Event or EndpointSlice parsers. So: generate mostly valid objects of each kind,
# then damage a few deeper fields.

names = st.from_regex(r"[a-z][a-z0-9-]{0,15}", fullmatch=True)
timestamps = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)).map(
    lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ"))
#: Timestamps a bad object (or another client) may carry: fractions, offsets, out of range.
odd_timestamps = st.sampled_from(["2024-05-01T10:00:00.123456789Z", "2024-05-01T10:00:00+08:00", "2024-02-30T00:00:00Z",
                                  "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", "yesterday", ""])
any_timestamp = st.one_of(timestamps, timestamps, timestamps, odd_timestamps)
str_maps = st.dictionaries(st.from_regex(r"[a-z0-9./-]{1,20}", fullmatch=True), st.text(max_size=10), max_size=4)


def _meta(kind_labels=st.just({})):
    owner = st.fixed_dictionaries({"kind": st.sampled_from(["ReplicaSet", "Job", "StatefulSet", "DaemonSet", "Node"]),
                                   "name": names, "controller": st.booleans()})
    return st.fixed_dictionaries(
        {"name": names, "namespace": names, "uid": st.uuids().map(str), "resourceVersion": st.integers(1, 10**9).map(str),
         "labels": st.tuples(str_maps, kind_labels).map(lambda t: {**t[0], **t[1]})},
        optional={"creationTimestamp": any_timestamp, "annotations": str_maps,
                  "ownerReferences": st.lists(owner, max_size=2)})


terminated = st.fixed_dictionaries(
    {"reason": st.sampled_from(["OOMKilled", "Error", "Completed"]), "exitCode": st.integers(0, 255)},
    optional={"signal": st.integers(0, 64), "startedAt": any_timestamp, "finishedAt": any_timestamp,
              "containerID": st.text(max_size=20), "message": st.text(max_size=20)})
states = st.one_of(st.fixed_dictionaries({"running": st.fixed_dictionaries({}, optional={"startedAt": any_timestamp})}),
                   st.fixed_dictionaries({"waiting": st.fixed_dictionaries({}, optional={"reason": st.text(max_size=12)})}),
                   st.fixed_dictionaries({"terminated": terminated}), st.just({}))
container_statuses = st.lists(st.fixed_dictionaries(
    {"name": names, "ready": st.booleans(), "restartCount": st.integers(0, 100), "state": states},
    optional={"lastState": st.one_of(st.just({}), st.fixed_dictionaries({"terminated": terminated}))}), max_size=3)
containers = st.lists(st.fixed_dictionaries({"name": names}, optional={"resources": st.fixed_dictionaries(
    {"limits": st.fixed_dictionaries({}, optional={"memory": st.sampled_from(["128Mi", "1G", "1e9", "lots"])})})}),
    max_size=3)

pods = st.fixed_dictionaries({
    "kind": st.just("Pod"), "metadata": _meta(st.fixed_dictionaries({}, optional={"pod-template-hash": names})),
    "spec": st.fixed_dictionaries({"containers": containers},
                                  optional={"nodeName": names, "initContainers": containers, "ephemeralContainers": containers}),
    "status": st.fixed_dictionaries({"phase": st.sampled_from(["Pending", "Running", "Succeeded", "Failed"])}, optional={
        "podIP": st.ip_addresses().map(str), "hostIP": st.ip_addresses().map(str), "containerStatuses": container_statuses,
        "initContainerStatuses": container_statuses, "ephemeralContainerStatuses": container_statuses}),
})
events = st.fixed_dictionaries({
    "kind": st.just("Event"), "metadata": _meta(),
    "involvedObject": st.fixed_dictionaries({"kind": st.sampled_from(["Pod", "Node"]), "name": names},
                                            optional={"namespace": names, "uid": st.uuids().map(str), "fieldPath": st.text(max_size=12)}),
    "reason": st.sampled_from(["BackOff", "Unhealthy", "Killing", "OOMKilling"]), "type": st.sampled_from(["Normal", "Warning"]),
}, optional={"message": st.text(max_size=30), "count": st.integers(0, 10**6), "firstTimestamp": any_timestamp,
             "lastTimestamp": any_timestamp, "eventTime": any_timestamp,
             "source": st.fixed_dictionaries({}, optional={"component": names, "host": names}),
             "series": st.fixed_dictionaries({}, optional={"count": st.integers(0, 100), "lastObservedTime": any_timestamp})})
slices = st.fixed_dictionaries({
    "kind": st.just("EndpointSlice"),
    "metadata": _meta(st.fixed_dictionaries({"kubernetes.io/service-name": names})).flatmap(
        lambda m: st.fixed_dictionaries({}, optional={"endpoints.kubernetes.io/last-change-trigger-time": any_timestamp}).map(
            lambda a: {**m, "annotations": a})),
    "endpoints": st.lists(st.fixed_dictionaries(
        {"addresses": st.lists(st.ip_addresses().map(str), min_size=1, max_size=2)},
        optional={"conditions": st.fixed_dictionaries({}, optional={k: st.one_of(st.none(), st.booleans())
                                                                  for k in ("ready", "serving", "terminating")}),
                  "nodeName": names, "targetRef": st.fixed_dictionaries({"kind": st.sampled_from(["Pod", "Node"]), "name": names})}),
        max_size=4),
})
objects = st.one_of(pods, events, slices)


def damage(obj, data):
    """Replace, remove or retype one nested value, picked by walking down from a top-level
    field other than `kind` (at least two levels deep when it can)."""
    path, node = [], obj
    while True:
        keys = sorted(node) if isinstance(node, dict) else list(range(len(node)))
        if not path and isinstance(node, dict):
            keys = [k for k in keys if k != "kind"]
        if not keys:
            break
        key = data.draw(st.sampled_from(keys))
        child = node[key]
        if isinstance(child, (dict, list)) and child and (len(path) < 1 or data.draw(st.booleans())):
            path.append(key)
            node = child
            continue
        how = data.draw(st.sampled_from(["replace", "remove", "retype"]))
        if how == "remove" and isinstance(node, dict):
            del node[key]
        elif how == "retype":
            node[key] = data.draw(st.sampled_from([[], {}, "", 0, -1, True, None, 1.5, "x" * 300]))
        else:
            node[key] = data.draw(json_values)
        break
    return obj
