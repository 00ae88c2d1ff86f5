"""Property tests: random and malformed input gives records or clear errors, never a crash."""
from collections import Counter
from datetime import datetime

import hypothesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules.loader import load_text
from watcher.normalize import MalformedObject, normalize

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


def _damage(obj, data):
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


#: Outcomes of the last run of `_normalizer_property`, by generated kind.
outcomes: Counter = Counter()


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.data(), objects, st.sampled_from(["ADDED", "MODIFIED", "DELETED"]))
def _normalizer_property(data, obj, watch_type):
    kind = obj["kind"]
    for _ in range(data.draw(st.integers(0, 3))):
        obj = _damage(obj, data)
    try:
        record = normalize(watch_type, obj, cluster="c")
    except MalformedObject as exc:
        assert exc.reason and str(exc)
        outcomes[(kind, "malformed")] += 1
        hypothesis.event(f"{kind}: malformed ({exc.reason})")
    else:
        assert record.name and record.kind == kind
        outcomes[(kind, "record")] += 1
        hypothesis.event(f"{kind}: record")


def test_normalizer_returns_record_or_malformed():
    """Random (damaged) Pods, Events and EndpointSlices give a Record or MalformedObject, never
    another exception; and the damage is light enough that most reach their kind's parser."""
    outcomes.clear()
    _normalizer_property()
    for kind in ("Pod", "Event", "EndpointSlice"):
        made, total = outcomes[(kind, "record")], outcomes[(kind, "record")] + outcomes[(kind, "malformed")]
        assert total >= 50 and made >= total // 3, (kind, dict(outcomes))


@settings(max_examples=300)
@given(json_values)
def test_normalizer_on_arbitrary_json(obj):
    try:
        normalize("ADDED", obj, cluster="c")
    except MalformedObject:
        pass


rule_keys = st.sampled_from(["name", "source", "detector", "match", "severity", "group_by", "for", "repeat_interval",
                             "resolve_after", "notify", "template", "enabled", "bogus", "description"])
rule_docs = st.dictionaries(rule_keys, json_values, max_size=8)


@settings(max_examples=400)
@given(st.one_of(rule_docs, st.lists(rule_docs, max_size=3), json_values))
def test_rule_loader_gives_rules_or_problems_with_lines(doc):
    import yaml

    text = yaml.safe_dump(doc, allow_unicode=True)
    result = load_text(text, "fuzz.yaml")
    for p in result.problems:
        assert p.file == "fuzz.yaml" and p.line >= 1 and p.message
    # Every input either loads rules or says why not; only an empty document is neither.
    assert result.rules or result.problems or doc in ({}, [], None)


@settings(max_examples=200)
@given(st.text(max_size=200))
def test_rule_loader_on_arbitrary_text(text):
    result = load_text(text, "t.yaml")
    assert all(str(p).startswith("t.yaml:") for p in result.problems)


yaml_tags = st.sampled_from(["", "!!int ", "!!float ", "!!timestamp ", "!!binary ", "!!bool ", "!!null ", "!!str ",
                             "!!set ", "!!omap ", "!!python/name:os.system ", "!custom "])
yaml_scalars = st.one_of(st.text(max_size=20), st.from_regex(r"\A[0-9]{1,6}(-[0-9]{1,3}){0,2}( [0-9:]{1,9})?\Z"),
                         st.integers().map(str))


@settings(max_examples=300)
@given(st.lists(st.tuples(st.sampled_from(["name", "source", "detector", "match", "x"]), yaml_tags, yaml_scalars),
                max_size=5))
def test_rule_loader_on_tagged_scalars(items):
    import json

    text = "".join(f"{key}: {tag}{json.dumps(value)}\n" for key, tag, value in items)
    result = load_text(text, "t.yaml")
    assert all(str(p).startswith("t.yaml:") for p in result.problems)


@settings(max_examples=200)
@given(st.lists(st.tuples(st.integers(0, 8), st.lists(st.integers(0, 8), max_size=12), st.booleans()), max_size=9))
def test_rule_loader_on_anchors_and_aliases(nodes):
    """Anchored lists or mappings whose items are aliases of any anchor, itself included:
    recursive, undefined and multiplying aliases give problems, never an exception."""
    lines = []
    for i, (depth, refs, as_map) in enumerate(nodes):
        items = [f"*a{r}" for r in refs] or ["x"]
        body = "{" + ", ".join(f"k{j}: {v}" for j, v in enumerate(items)) + "}" if as_map else "[" + ", ".join(items) + "]"
        lines.append(f"n{i}: &a{i} {'[' * depth}{body}{']' * depth}")
    result = load_text("\n".join(lines) + "\n", "a.yaml")
    assert all(str(p).startswith("a.yaml:") for p in result.problems)
