"""deploy/grafana/kube-event-alerter.json: valid JSON, the output of deploy/grafana/generate.py,
a sane layout, and every panel's expression naming only series and labels that
watcher/metrics.py registers (a live Metrics() registry); every series of the README's
metrics table has a panel."""
from __future__ import annotations

import importlib.util
import io
import json
import re
from contextlib import redirect_stdout

import pytest

from tests.deploy.manifests import REPO
from tests.deploy.promql import exported_series, problems, references

GRAFANA = REPO / "deploy" / "grafana"
DASHBOARD = GRAFANA / "kube-event-alerter.json"


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def _panels(dashboard: dict) -> list[dict]:
    out = []
    for p in dashboard["panels"]:
        out.append(p)
        out.extend(p.get("panels", []))
    return out


def _targets(dashboard: dict):
    for p in _panels(dashboard):
        for t in p.get("targets", []):
            yield p, t


def test_the_shipped_json_is_the_generators_output():
    spec = importlib.util.spec_from_file_location("grafana_generate", GRAFANA / "generate.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    buf = io.StringIO()
    with redirect_stdout(buf):
        assert gen.main() == 0
    assert buf.getvalue() == DASHBOARD.read_text(encoding="utf-8"), \
        "run: python deploy/grafana/generate.py > deploy/grafana/kube-event-alerter.json"


def test_layout_ids_and_datasources(dashboard):
    panels = _panels(dashboard)
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    cells = set()
    for p in panels:
        g = p["gridPos"]
        assert g["x"] >= 0 and g["w"] > 0 and g["x"] + g["w"] <= 24, p["title"]
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not mine & cells, f"{p['title']} overlaps another panel"
        cells |= mine
        if p["type"] != "row":
            assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
            assert p["targets"] and p.get("description"), p["title"]
    names = [v["name"] for v in dashboard["templating"]["list"]]
    assert names == ["datasource", "job", "instance"]


def test_every_expression_uses_only_exported_series(dashboard):
    series = exported_series()
    found = []
    for panel, target in _targets(dashboard):
        found += problems(target["expr"], series, where=f"{panel['title']} {target['refId']}")
    for var in dashboard["templating"]["list"][1:]:
        found += problems(var["query"]["query"].replace("label_values(", "(").replace(", job)", ")")
                          .replace(", instance)", ")"), series, where=f"variable {var['name']}")
    assert not found, "\n".join(found)


def test_every_series_of_the_readme_metrics_table_has_a_panel(dashboard):
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Metrics", 1)[1].split("\n### ", 1)[0]
    listed = set(re.findall(r"`(kea_\w+)`", section))
    assert len(listed) > 20, "README metrics table not found"
    used = set()
    for _, target in _targets(dashboard):
        used |= references(target["expr"]).metrics
    used = {re.sub(r"_(bucket|sum|count)$", "", n) for n in used}
    missing = sorted(listed - used)
    assert not missing, f"README series without a panel: {missing}"


def test_the_readme_metrics_table_lists_exactly_the_exported_series():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Metrics", 1)[1].split("\n### ", 1)[0]
    listed = set(re.findall(r"`(kea_\w+)`", section))
    exported = {re.sub(r"_(bucket|sum|count)$", "", n) for n in exported_series()}
    assert sorted(exported - listed) == [], "exported but not in README Operate → Metrics"
    assert sorted(listed - exported) == [], "in README Operate → Metrics but not exported"
