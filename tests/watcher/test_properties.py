"""Property tests: random and malformed input gives records or clear errors, never a crash."""
from collections import Counter

import hypothesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules.loader import load_text
from tests.watcher.k8s_objects import damage, json_values, objects
from watcher.normalize import MalformedObject, normalize

#: Outcomes of the last run of `_normalizer_property`, by generated kind.
outcomes: Counter = Counter()


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.data(), objects, st.sampled_from(["ADDED", "MODIFIED", "DELETED"]))
def _normalizer_property(data, obj, watch_type):
    kind = obj["kind"]
    for _ in range(data.draw(st.integers(0, 3))):
        obj = damage(obj, data)
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
