"""deploy/kibana/*.ndjson: importable structure, references that resolve, and fields that exist
in our index templates (a renamed field would otherwise only show as an empty Kibana panel)."""
import importlib.util
import json
import re
from pathlib import Path

import pytest

from watcher.es.templates import COMMON_PROPERTIES, PROPERTIES

KIBANA = Path(__file__).resolve().parents[2] / "deploy" / "kibana"
SHIPPED = KIBANA / "kube-event-alerter.ndjson"
TYPES = {"index-pattern", "search", "visualization", "dashboard"}


def load_generator():
    spec = importlib.util.spec_from_file_location("kibana_generate", KIBANA / "generate.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def objects():
    lines = SHIPPED.read_text(encoding="utf-8").splitlines()
    assert lines and all(line.strip() for line in lines), "one JSON object per line, no blank lines"
    return [json.loads(line) for line in lines]


def fields_of(kind: str) -> set[str]:
    """Every searchable field path of one index kind, from the templates."""
    out = set()

    def walk(props, path=""):
        for name, spec in props.items():
            full = f"{path}{name}"
            out.add(full)
            for sub in spec.get("fields", {}):
                out.add(f"{full}.{sub}")
            if "properties" in spec:
                walk(spec["properties"], f"{full}.")

    walk({**COMMON_PROPERTIES, **PROPERTIES[kind]})
    return out


def kind_of(pattern_title: str) -> str:
    return pattern_title.split("-", 1)[1]


def test_shipped_file_is_the_generators_output():
    assert SHIPPED.read_text(encoding="utf-8") == load_generator().render("kea")


def test_every_object_is_well_formed(objects):
    ids = [(o["type"], o["id"]) for o in objects]
    assert len(ids) == len(set(ids)), "duplicate ids"
    for o in objects:
        assert set(o) >= {"id", "type", "attributes", "references"} and o["type"] in TYPES
        assert o["attributes"]["title"]
        for key in ("visState", "uiStateJSON", "panelsJSON", "optionsJSON"):
            if key in o["attributes"]:
                json.loads(o["attributes"][key])
        meta = o["attributes"].get("kibanaSavedObjectMeta")
        if meta:
            source = json.loads(meta["searchSourceJSON"])
            if "indexRefName" in source:
                assert source["indexRefName"] in {r["name"] for r in o["references"]}


def test_references_resolve_within_the_file(objects):
    present = {(o["type"], o["id"]) for o in objects}
    for o in objects:
        for ref in o["references"]:
            assert (ref["type"], ref["id"]) in present, f"{o['id']} -> {ref}"


def test_data_views_point_at_our_aliases_with_the_time_field(objects):
    views = {o["attributes"]["title"]: o["attributes"] for o in objects if o["type"] == "index-pattern"}
    assert set(views) == {"kea-events", "kea-alerts", "kea-endpoints", "kea-terminations"}
    assert all(v["timeFieldName"] == "@timestamp" for v in views.values())


def test_fields_used_exist_in_the_mappings(objects):
    titles = {o["id"]: o["attributes"]["title"] for o in objects if o["type"] == "index-pattern"}
    for o in objects:
        if o["type"] not in ("search", "visualization"):
            continue
        (ref,) = [r for r in o["references"] if r["type"] == "index-pattern"]
        known = fields_of(kind_of(titles[ref["id"]]))
        used = set(o["attributes"].get("columns", []))
        if o["type"] == "visualization":
            vis = json.loads(o["attributes"]["visState"])
            used |= {a["params"]["field"] for a in vis["aggs"] if "field" in a["params"]}
        query = json.loads(o["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])["query"]["query"]
        used |= set(re.findall(r"([\w.@]+) :", query))
        assert used <= known, f"{o['id']}: unknown fields {used - known}"


def test_required_panels(objects):
    by_id = {o["id"]: o for o in objects}
    warn = by_id["kea-warning-events"]
    assert warn["type"] == "search" and "Warning" in warn["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"]
    (dash,) = [o for o in objects if o["type"] == "dashboard"]
    panels = json.loads(dash["attributes"]["panelsJSON"])
    refs = {r["name"]: r["id"] for r in dash["references"]}
    shown = {refs[p["panelRefName"]] for p in panels}
    assert {"kea-events-by-reason", "kea-top-namespaces", "kea-oom-kills", "kea-oom-unhealthy-alerts"} <= shown
    for p in panels:
        g = p["gridData"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 48 and g["i"] == p["panelIndex"]
    assert "oom-killed" in by_id["kea-oom-unhealthy-alerts"]["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"]


def test_generator_follows_the_prefix():
    objs = load_generator().saved_objects("acme")
    assert {o["attributes"]["title"] for o in objs if o["type"] == "index-pattern"} == {
        "acme-events", "acme-alerts", "acme-endpoints", "acme-terminations"}
