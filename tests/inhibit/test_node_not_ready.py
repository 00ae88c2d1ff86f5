"""The pack's node-not-ready alert as the engine makes it from a node controller's Event, and
what the built-in inhibition makes of it offline: the alerts on that node are absorbed, and the
node card counts them."""
from __future__ import annotations

import json

from rules.engine import Engine
from rules.loader import load_rule_set
from tests.factories import at, endpoint_slice, oom, pod, rec, ts
from tests.inhibit.helpers import T0
from watcher.decisions import Decider, Decision, offline_decider
from watcher.replay import replay


def node_event(node: str = "node-0", t: float = 20) -> dict:
    """What the node lifecycle controller records on a Node (in namespace default)."""
    return {"kind": "Event", "metadata": {"name": f"{node}.17a", "namespace": "default", "uid": f"uid-{node}-nnr",
                                          "resourceVersion": "5001"},
            "involvedObject": {"kind": "Node", "name": node, "uid": node},
            "reason": "NodeNotReady", "type": "Normal", "message": f"Node {node} status is now: NodeNotReady",
            "count": 1, "firstTimestamp": ts(t), "lastTimestamp": ts(t),
            "source": {"component": "node-controller"}}


def rules():
    loaded = load_rule_set([], builtins=True, packs=["common/node-not-ready"])
    assert loaded.ok, loaded.problems
    return loaded.rules


def test_the_node_alert_names_its_node_as_the_workload() -> None:
    eng = Engine(rules(), stale_before=T0)
    [alert] = eng.process(rec(node_event()), at(20))
    assert (alert.rule, alert.workload_kind, alert.workload_name) == ("node-not-ready", "Node", "node-0")


def _decide(tmp_path, records: list[dict]) -> list[Decision]:
    """Through `replay`, as `replay --silences` / `-c` runs it (the engine ticked at due times)."""
    path = tmp_path / "recording.jsonl"
    path.write_text("".join(json.dumps({"type": "MODIFIED", "object": obj}) + "\n" for obj in records))
    loaded = rules()
    out: list[Decision] = []
    decider: Decider = offline_decider(None, loaded, None, out.append)
    replay([str(path)], loaded, emit=decider.alert, stage=decider)
    decider.finish()
    return out


def test_a_notready_node_absorbs_the_drop_on_it_and_its_card_counts_it(tmp_path) -> None:
    pods = ["web-6d8f7c9b4-a", "web-6d8f7c9b4-b"]
    got = _decide(tmp_path, [
        endpoint_slice([True, True], service="web", pods=pods),
        node_event("node-0", 20),
        endpoint_slice([False, True], service="web", pods=pods, change=21),  # web-...-a is on node-0
        pod("batch-1", node="node-0", restarts=1, last=oom(30), ready=False, rs=None),
        pod("other-1", node="node-1", restarts=1, last=oom(40), ready=False, rs=None),
        endpoint_slice([True, True], service="web", pods=pods, change=200),
    ])
    summary = [(d.alert.rule, d.alert.status, d.outcome, d.inhibited) for d in got]
    assert summary == [
        ("node-not-ready", "firing", "sent", 2),
        ("oom-killed", "firing", "inhibited", 0),       # a pod on node-0
        ("oom-killed", "firing", "sent", 0),            # a pod on a Ready node
        ("endpoints-unhealthy", "firing", "inhibited", 0),
        ("endpoints-unhealthy", "resolved", "inhibited", 0),
    ], summary
