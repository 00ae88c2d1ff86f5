#!/usr/bin/env python3
"""Write the Kibana saved objects for kube-event-alerter as NDJSON (the import format).

    python deploy/kibana/generate.py                 > deploy/kibana/kube-event-alerter.ndjson
    python deploy/kibana/generate.py --prefix myorg  > kea-myorg.ndjson   # another index_prefix

Why a generator: saved objects hold JSON inside JSON strings (visState, searchSourceJSON,
panelsJSON), which nobody can review or edit by hand, and the index prefix is configurable.
The shipped file is this script's output for the default prefix `kea`; a test keeps them equal
and checks every field used here against the index templates.

Objects use the 7.10 shape (references + indexRefName/panelRefName, aggregation-based
"visualization" objects); Kibana 7.10+ and 8.x import them and migrate them forward.
Stdlib only, so it runs anywhere.
"""
from __future__ import annotations

import argparse
import json
import sys

INDEX_REF = "kibanaSavedObjectMeta.searchSourceJSON.index"
MIGRATION = {"index-pattern": "7.11.0", "search": "7.9.3", "visualization": "7.10.0", "dashboard": "7.9.3"}


def _j(value) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _obj(type_: str, id_: str, attributes: dict, references: list | None = None) -> dict:
    return {"id": id_, "type": type_, "attributes": attributes, "references": references or [],
            "migrationVersion": {type_: MIGRATION[type_]}}


def _source(query: str = "", filters: list | None = None) -> dict:
    return {"searchSourceJSON": _j({"query": {"query": query, "language": "kuery"}, "filter": filters or [],
                                    "indexRefName": INDEX_REF})}


def _index_ref(pattern_id: str) -> list:
    return [{"name": INDEX_REF, "type": "index-pattern", "id": pattern_id}]


def data_view(prefix: str, kind: str) -> dict:
    # the alias (daily kinds) or the single alerts index: both are valid data view titles
    return _obj("index-pattern", f"{prefix}-{kind}", {"title": f"{prefix}-{kind}", "timeFieldName": "@timestamp"})


def search(id_: str, title: str, pattern_id: str, query: str, columns: list[str]) -> dict:
    return _obj("search", id_, {
        "title": title, "description": "", "hits": 0, "columns": columns, "sort": [["@timestamp", "desc"]],
        "version": 1, "kibanaSavedObjectMeta": _source(query),
    }, _index_ref(pattern_id))


def _axes(title: str) -> dict:
    return {
        "grid": {"categoryLines": False},
        "categoryAxes": [{"id": "CategoryAxis-1", "type": "category", "position": "bottom", "show": True, "style": {},
                          "scale": {"type": "linear"}, "labels": {"show": True, "filter": True, "truncate": 100},
                          "title": {}}],
        "valueAxes": [{"id": "ValueAxis-1", "name": "LeftAxis-1", "type": "value", "position": "left", "show": True,
                       "style": {}, "scale": {"type": "linear", "mode": "normal"},
                       "labels": {"show": True, "rotate": 0, "filter": False, "truncate": 100},
                       "title": {"text": title}}],
        "seriesParams": [{"show": True, "type": "histogram", "mode": "stacked", "data": {"label": title, "id": "1"},
                          "valueAxis": "ValueAxis-1", "drawLinesBetweenPoints": True, "lineWidth": 2,
                          "showCircles": True}],
        "addTooltip": True, "addLegend": True, "legendPosition": "right", "times": [], "addTimeMarker": False,
        "labels": {"show": False}, "thresholdLine": {"show": False, "value": 10, "width": 1, "style": "full",
                                                     "color": "#E7664C"},
    }


_COUNT = {"id": "1", "enabled": True, "type": "count", "schema": "metric", "params": {}}


def _terms(id_: str, field: str, schema: str, size: int) -> dict:
    return {"id": id_, "enabled": True, "type": "terms", "schema": schema,
            "params": {"field": field, "orderBy": "1", "order": "desc", "size": size, "otherBucket": True,
                       "otherBucketLabel": "Other", "missingBucket": False, "missingBucketLabel": "Missing"}}


def histogram_by(id_: str, title: str, pattern_id: str, split_field: str, query: str = "") -> dict:
    aggs = [_COUNT,
            {"id": "2", "enabled": True, "type": "date_histogram", "schema": "segment",
             "params": {"field": "@timestamp", "useNormalizedEsInterval": True, "interval": "auto",
                        "drop_partials": False, "min_doc_count": 1, "extended_bounds": {}}},
            _terms("3", split_field, "group", 10)]
    vis = {"title": title, "type": "histogram", "params": {"type": "histogram", **_axes("Count")}, "aggs": aggs}
    return _obj("visualization", id_, {"title": title, "visState": _j(vis), "uiStateJSON": "{}", "description": "",
                                       "version": 1, "kibanaSavedObjectMeta": _source(query)}, _index_ref(pattern_id))


def top_table(id_: str, title: str, pattern_id: str, field: str, query: str = "") -> dict:
    vis = {"title": title, "type": "table",
           "params": {"perPage": 10, "showPartialRows": False, "showMetricsAtAllLevels": False, "showTotal": False,
                      "totalFunc": "sum", "percentageCol": ""},
           "aggs": [_COUNT, _terms("2", field, "bucket", 20)]}
    return _obj("visualization", id_, {"title": title, "visState": _j(vis), "uiStateJSON": "{}", "description": "",
                                       "version": 1, "kibanaSavedObjectMeta": _source(query)}, _index_ref(pattern_id))


def dashboard(id_: str, title: str, panels: list[tuple[str, str, dict]]) -> dict:
    """`panels`: (saved object type, id, gridData) in layout order."""
    panel_json, refs = [], []
    for n, (type_, ref_id, grid) in enumerate(panels):
        panel_json.append({"version": "7.10.0", "gridData": {**grid, "i": str(n + 1)}, "panelIndex": str(n + 1),
                           "embeddableConfig": {}, "panelRefName": f"panel_{n}"})
        refs.append({"name": f"panel_{n}", "type": type_, "id": ref_id})
    return _obj("dashboard", id_, {
        "title": title, "description": "Kubernetes events, OOM kills and endpoint health from kube-event-alerter",
        "panelsJSON": _j(panel_json), "optionsJSON": _j({"useMargins": True, "hidePanelTitles": False}),
        "version": 1, "timeRestore": True, "timeFrom": "now-24h", "timeTo": "now",
        "refreshInterval": {"pause": False, "value": 60000},
        "kibanaSavedObjectMeta": {"searchSourceJSON": _j({"query": {"query": "", "language": "kuery"}, "filter": []})},
    }, refs)


def saved_objects(prefix: str = "kea") -> list[dict]:
    ev, al, ep, te = (f"{prefix}-{k}" for k in ("events", "alerts", "endpoints", "terminations"))
    objs = [data_view(prefix, k) for k in ("events", "alerts", "endpoints", "terminations")]
    objs += [
        search(f"{prefix}-warning-events", "Warning events", ev, "type : \"Warning\"",
               ["cluster", "namespace", "kind", "name", "reason", "message", "count"]),
        search(f"{prefix}-oom-unhealthy-alerts", "OOMKilled and unhealthy alerts", al,
               "rule : (\"oom-killed\" or \"endpoints-unhealthy\")",
               ["rule", "status", "cluster", "namespace", "workload", "summary", "notifier", "result"]),
        search(f"{prefix}-endpoint-changes", "Endpoint health changes", ep, "not change : \"scaled\"",
               ["cluster", "namespace", "service", "change", "ready", "not_ready", "terminating", "total"]),
        histogram_by(f"{prefix}-events-by-reason", "Events over time by reason", ev, "reason"),
        top_table(f"{prefix}-top-namespaces", "Top namespaces (Warning events)", ev, "namespace", "type : \"Warning\""),
        histogram_by(f"{prefix}-oom-kills", "OOM kills over time by namespace", te, "namespace", "oom : true"),
    ]
    objs.append(dashboard(f"{prefix}-overview", "Kubernetes events overview", [
        ("visualization", f"{prefix}-events-by-reason", {"x": 0, "y": 0, "w": 48, "h": 15}),
        ("visualization", f"{prefix}-top-namespaces", {"x": 0, "y": 15, "w": 16, "h": 15}),
        ("visualization", f"{prefix}-oom-kills", {"x": 16, "y": 15, "w": 32, "h": 15}),
        ("search", f"{prefix}-oom-unhealthy-alerts", {"x": 0, "y": 30, "w": 48, "h": 15}),
        ("search", f"{prefix}-warning-events", {"x": 0, "y": 45, "w": 48, "h": 15}),
    ]))
    return objs


def render(prefix: str = "kea") -> str:
    return "".join(json.dumps(o, ensure_ascii=False, sort_keys=True) + "\n" for o in saved_objects(prefix))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefix", default="kea", help="elasticsearch.index_prefix of the daemon (default: kea)")
    sys.stdout.write(render(parser.parse_args(argv).prefix))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
