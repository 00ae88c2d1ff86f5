#!/usr/bin/env python3
"""Write the Grafana dashboard for kube-event-alerter's /metrics (README "Operate → Metrics").

    python deploy/grafana/generate.py > deploy/grafana/kube-event-alerter.json

Why a generator: a dashboard is mostly layout boilerplate (ids, grid positions, datasource
references) around a few dozen PromQL expressions; here each panel is one line of intent and
the layout follows. The shipped JSON is this script's output; a test keeps them equal, parses
every expression and checks it names only series and labels the daemon exports.

Import: Grafana → Dashboards → New → Import (Grafana 10+), pick your Prometheus data source.
Variables: `job` (the scrape job), `instance` (the replicas). Stdlib only.
"""
from __future__ import annotations

import json
import sys

DS = {"type": "prometheus", "uid": "${datasource}"}
SEL = 'job=~"$job", instance=~"$instance"'
WIDTH = 24


class Layout:
    """Panels left to right, rows of height `h`; a row header starts a new line."""

    def __init__(self) -> None:
        self.panels: list[dict] = []
        self.x = self.y = self.row_h = 0
        self.next_id = 1

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def row(self, title: str) -> None:
        self.y += self.row_h
        self.x = self.row_h = 0
        self.panels.append({"id": self._id(), "type": "row", "title": title, "collapsed": False,
                            "gridPos": {"x": 0, "y": self.y, "w": WIDTH, "h": 1}, "panels": []})
        self.y += 1

    def add(self, panel: dict, w: int, h: int) -> None:
        if self.x + w > WIDTH:
            self.y += self.row_h
            self.x = self.row_h = 0
        panel["id"] = self._id()
        panel["gridPos"] = {"x": self.x, "y": self.y, "w": w, "h": h}
        self.panels.append(panel)
        self.x += w
        self.row_h = max(self.row_h, h)


def _targets(exprs: list[tuple[str, str]]) -> list[dict]:
    return [{"refId": chr(ord("A") + i), "datasource": DS, "expr": expr, "legendFormat": legend,
             "range": True} for i, (expr, legend) in enumerate(exprs)]


def timeseries(title: str, description: str, exprs: list[tuple[str, str]], unit: str = "short",
               stack: bool = False) -> dict:
    custom = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never",
              "spanNulls": False}
    if stack:
        custom["stacking"] = {"mode": "normal", "group": "A"}
    return {"type": "timeseries", "title": title, "description": description, "datasource": DS,
            "targets": _targets(exprs),
            "fieldConfig": {"defaults": {"unit": unit, "custom": custom}, "overrides": []},
            "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                        "tooltip": {"mode": "multi", "sort": "desc"}}}


def stat(title: str, description: str, expr: str, legend: str = "", unit: str = "short",
         thresholds: list[tuple[float | None, str]] | None = None, mappings: list | None = None) -> dict:
    steps = [{"value": v, "color": c} for v, c in (thresholds or [(None, "green")])]
    return {"type": "stat", "title": title, "description": description, "datasource": DS,
            "targets": _targets([(expr, legend)]),
            "fieldConfig": {"defaults": {"unit": unit, "mappings": mappings or [],
                                         "thresholds": {"mode": "absolute", "steps": steps}},
                            "overrides": []},
            "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                        "colorMode": "background", "graphMode": "none", "textMode": "auto",
                        "justifyMode": "auto", "orientation": "auto"}}


def _sum(by: str) -> str:
    return f"sum by ({by})" if by else "sum"


def rate(series: str, by: str, extra: str = "") -> str:
    sel = SEL + (", " + extra if extra else "")
    return f"{_sum(by)} (rate({series}{{{sel}}}[$__rate_interval]))"


def increase(series: str, by: str, window: str = "1h", extra: str = "") -> str:
    sel = SEL + (", " + extra if extra else "")
    return f"{_sum(by)} (increase({series}{{{sel}}}[{window}]))"


def panels() -> list[dict]:
    lay = Layout()
    yes_no = [{"type": "value", "options": {"0": {"text": "no", "color": "red"}, "1": {"text": "yes", "color": "green"}}}]

    lay.row("Overview")
    lay.add(stat("Leader", "Replicas holding the Lease (kea_leader): exactly 1 is healthy; 0 means nobody notifies.",
                 f"sum(kea_leader{{{SEL}}})", thresholds=[(None, "red"), (1, "green"), (2, "red")]), 4, 4)
    lay.add(stat("Outbox pending", "Notifications not yet confirmed by a robot (kea_outbox_pending), summed over replicas.",
                 f"sum(kea_outbox_pending{{{SEL}}})", thresholds=[(None, "green"), (1, "yellow"), (100, "red")]), 4, 4)
    lay.add(stat("Alerts fired (1h)", "Firing alert decisions in the last hour (kea_alerts_total).",
                 increase("kea_alerts_total", "", extra='status="firing"')), 4, 4)
    lay.add(stat("Failed notifications (1h)", "Deliveries that failed for good in the last hour (kea_notifications_total{result=\"failed\"}).",
                 increase("kea_notifications_total", "", extra='result="failed"'),
                 thresholds=[(None, "green"), (1, "red")]), 4, 4)
    lay.add(stat("Elasticsearch up", "Whether Elasticsearch answered the last request, per replica (kea_es_up).",
                 f"min(kea_es_up{{{SEL}}})", mappings=yes_no, thresholds=[(None, "red"), (1, "green")]), 4, 4)
    lay.add(stat("Version", "kea_build_info of the replicas.", f"count by (version) (kea_build_info{{{SEL}}})",
                 legend="{{version}}"), 4, 4)

    lay.row("Watchers")
    lay.add(timeseries("Watch events / s", "Watch events received by resource and type (kea_watch_events_total).",
                       [(rate("kea_watch_events_total", "resource, type"), "{{resource}} {{type}}")], "ops", stack=True), 12, 8)
    lay.add(timeseries("Seconds since the last event", "Age of each watcher's newest event or bookmark (kea_watch_seconds_since_last_event); "
                       "the KubeEventAlerterWatchSilent alert fires above 15 minutes while list/watch succeed. "
                       "kea_watch_last_event_timestamp_seconds is the same as a Unix time.",
                       [(f"max by (instance, resource) (kea_watch_seconds_since_last_event{{{SEL}}})", "{{instance}} {{resource}}"),
                        (f"max by (resource) (time() - kea_watch_last_event_timestamp_seconds{{{SEL}}})", "{{resource}} (from timestamp)")],
                       "s"), 12, 8)
    lay.add(timeseries("Reconnects and relists / s", "Failed list/watch calls retried after backoff (kea_watch_reconnects_total) "
                       "and relists after 410 Gone (kea_watch_relists_total), by reason.",
                       [(rate("kea_watch_reconnects_total", "resource, reason"), "reconnect {{resource}} {{reason}}"),
                        (rate("kea_watch_relists_total", "resource, reason"), "relist {{resource}} {{reason}}")], "ops"), 12, 8)
    lay.add(timeseries("Records skipped / s", "Malformed objects skipped, by reason (kea_records_skipped_total).",
                       [(rate("kea_records_skipped_total", "reason"), "{{reason}}")], "ops"), 12, 8)

    lay.row("Rules")
    lay.add(timeseries("Records and rule matches / s", "Records the pipeline took through the cluster state and "
                       "the rules (kea_pipeline_records_total), and those that matched each rule (kea_rule_matches_total).",
                       [(rate("kea_pipeline_records_total", "instance"), "all records {{instance}}"),
                        (rate("kea_rule_matches_total", "rule"), "{{rule}}")], "ops"), 12, 8)
    lay.add(timeseries("Alert decisions", "Alert changes decided per rule and status, per interval (kea_alerts_total).",
                       [(increase("kea_alerts_total", "rule, status", "$__rate_interval"), "{{rule}} {{status}}")], "short", stack=True), 12, 8)
    lay.add(timeseries("Pipeline queue", "Records waiting for the rules engine (kea_pipeline_queue).",
                       [(f"max by (instance) (kea_pipeline_queue{{{SEL}}})", "{{instance}}")]), 8, 8)
    lay.add(timeseries("Rule reloads", "Rule reloads by result (kea_config_reloads_total); a failure keeps the previous rules.",
                       [(increase("kea_config_reloads_total", "result", "$__rate_interval"), "{{result}}")]), 8, 8)
    lay.add(timeseries("Pipeline errors / s", "Pipeline steps that failed on a record or a tick, each alone "
                       "(kea_pipeline_errors_total).",
                       [(rate("kea_pipeline_errors_total", "stage"), "{{stage}}")], "ops"), 8, 8)

    lay.row("Notifications")
    lay.add(timeseries("Notifications / s", "Outcomes per robot: sent, failed, retried, paused, dropped, unrouted (kea_notifications_total).",
                       [(rate("kea_notifications_total", "notifier, platform, result"), "{{notifier}} {{result}}")], "ops"), 12, 8)
    lay.add(timeseries("Failures by platform code / s", "Failed deliveries by the platform's error code (kea_notification_errors_total): "
                       "93000 / 310000 / ... (README Notifiers).",
                       [(rate("kea_notification_errors_total", "notifier, platform, code"), "{{notifier}} {{code}}")], "ops"), 12, 8)
    lay.add(timeseries("Outbox pending", "Notifications not yet confirmed, per replica (kea_outbox_pending).",
                       [(f"max by (instance) (kea_outbox_pending{{{SEL}}})", "{{instance}}")]), 12, 8)
    lay.add(timeseries("Leader", "1 on the replica holding the Lease (kea_leader).",
                       [(f"max by (instance) (kea_leader{{{SEL}}})", "{{instance}}")]), 12, 8)

    lay.row("Silences")
    lay.add(timeseries("Silences", "Silences active at the last snapshot (kea_silences_active) and all kept: active, "
                       "pending, expired within 5 days (kea_silences_kept).",
                       [(f"max by (instance) (kea_silences_active{{{SEL}}})", "active {{instance}}"),
                        (f"max by (instance) (kea_silences_kept{{{SEL}}})", "kept {{instance}}")]), 8, 8)
    lay.add(timeseries("Silence store errors / s", "Reads / writes of the silence store that failed, the last snapshot "
                       "staying in force (kea_silences_store_errors_total), and stored silences skipped as unreadable "
                       "(kea_silences_invalid_total).",
                       [(rate("kea_silences_store_errors_total", "store, operation"), "{{store}} {{operation}}"),
                        (rate("kea_silences_invalid_total", "store"), "invalid {{store}}")], "ops"), 8, 8)
    lay.add(timeseries("Silences API / s", "Silences API and link page answers by HTTP status "
                       "(kea_silences_api_requests_total): 401 / 403 are refused tokens or links.",
                       [(rate("kea_silences_api_requests_total", "route, code"), "{{route}} {{code}}")], "ops"), 8, 8)

    lay.row("Inhibition")
    lay.add(timeseries("Inhibition", "Firing alerts the inhibitor holds as sources (kea_inhibition_sources), sources "
                       "forgotten over its bound (kea_inhibition_sources_forgotten_total) and failed writes of "
                       "data_dir/inhibition.json (kea_inhibition_state_save_failures_total), per interval.",
                       [(f"max by (instance) (kea_inhibition_sources{{{SEL}}})", "sources {{instance}}"),
                        (increase("kea_inhibition_sources_forgotten_total", "instance", "$__rate_interval"),
                         "forgotten {{instance}}"),
                        (increase("kea_inhibition_state_save_failures_total", "instance", "$__rate_interval"),
                         "save failures {{instance}}")]), 24, 8)

    lay.row("Elasticsearch")
    lay.add(timeseries("Documents / s", "Acknowledged (kea_es_docs_indexed_total), already present (kea_es_docs_duplicate_total) "
                       "and spooled during an outage (kea_es_docs_spooled_total).",
                       [(rate("kea_es_docs_indexed_total", "index_kind"), "indexed {{index_kind}}"),
                        (rate("kea_es_docs_duplicate_total", "index_kind"), "duplicate {{index_kind}}"),
                        (rate("kea_es_docs_spooled_total", "instance"), "spooled {{instance}}")], "ops"), 12, 8)
    lay.add(timeseries("Documents not written / s", "Rejected (mapping, kea_es_docs_rejected_total), skipped "
                       "(kea_es_docs_skipped_total), not buildable (kea_es_docs_invalid_total), dropped from the spool "
                       "(kea_es_spool_dropped_total).",
                       [(rate("kea_es_docs_rejected_total", "index_kind, reason"), "rejected {{index_kind}} {{reason}}"),
                        (rate("kea_es_docs_skipped_total", "index_kind, reason"), "skipped {{index_kind}} {{reason}}"),
                        (rate("kea_es_docs_invalid_total", "kind"), "invalid {{kind}}"),
                        (rate("kea_es_spool_dropped_total", "reason"), "dropped {{reason}}")], "ops"), 12, 8)
    lay.add(timeseries("Bulk latency", "kea_es_bulk_seconds: p50 and p99 of bulk requests.",
                       [(f"histogram_quantile(0.5, sum by (le) (rate(kea_es_bulk_seconds_bucket{{{SEL}}}[$__rate_interval])))", "p50"),
                        (f"histogram_quantile(0.99, sum by (le) (rate(kea_es_bulk_seconds_bucket{{{SEL}}}[$__rate_interval])))", "p99"),
                        (f"sum(rate(kea_es_bulk_seconds_sum{{{SEL}}}[$__rate_interval])) / sum(rate(kea_es_bulk_seconds_count{{{SEL}}}[$__rate_interval]))", "mean")],
                       "s"), 8, 8)
    lay.add(timeseries("Spool", "Bytes spooled on disk while Elasticsearch is unreachable (kea_es_spool_bytes), per replica.",
                       [(f"max by (instance) (kea_es_spool_bytes{{{SEL}}})", "{{instance}}")], "bytes"), 8, 8)
    lay.add(timeseries("Bulk errors and torn spool lines / s", "Failed bulk attempts by reason (kea_es_bulk_errors_total); damaged "
                       "spool lines skipped (kea_es_spool_corrupt_total); reachability (kea_es_up).",
                       [(rate("kea_es_bulk_errors_total", "reason"), "bulk error {{reason}}"),
                        (rate("kea_es_spool_corrupt_total", "instance"), "corrupt {{instance}}"),
                        (f"min by (instance) (kea_es_up{{{SEL}}})", "up {{instance}}")], "short"), 8, 8)

    lay.row("Local history (no Elasticsearch)")
    lay.add(timeseries("Documents / s", "The SQLite history: stored or already held (kea_local_history_docs_total), "
                       "dropped by reason (kea_local_history_dropped_total), refused batches, kept and retried "
                       "(kea_local_history_write_errors_total).",
                       [(rate("kea_local_history_docs_total", "index_kind, result"), "{{index_kind}} {{result}}"),
                        (rate("kea_local_history_dropped_total", "reason"), "dropped {{reason}}"),
                        (rate("kea_local_history_write_errors_total", "instance"), "write errors {{instance}}")], "ops"), 12, 8)
    lay.add(timeseries("Size", "Bytes the SQLite history's documents occupy (kea_local_history_bytes).",
                       [(f"max by (instance) (kea_local_history_bytes{{{SEL}}})", "{{instance}}")], "bytes"), 12, 8)
    return lay.panels


def variable(name: str, label: str, query: str) -> dict:
    return {"name": name, "label": label, "type": "query", "datasource": DS,
            "query": {"query": query, "refId": name}, "definition": query, "refresh": 2,
            "includeAll": True, "multi": True, "allValue": ".*",
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]}, "sort": 1}


def dashboard() -> dict:
    return {
        "uid": "kube-event-alerter",
        "title": "kube-event-alerter",
        "description": "The alerter's own health: watchers, rules, notifications, Elasticsearch (README Operate → Metrics).",
        "tags": ["kubernetes", "kube-event-alerter"],
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "1m",
        "time": {"from": "now-6h", "to": "now"},
        "timezone": "browser",
        "templating": {"list": [
            {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
             "current": {}, "hide": 0, "refresh": 1},
            variable("job", "Job", "label_values(kea_build_info, job)"),
            variable("instance", "Replica", 'label_values(kea_build_info{job=~"$job"}, instance)'),
        ]},
        "annotations": {"list": []},
        "links": [],
        "panels": panels(),
    }


def main() -> int:
    json.dump(dashboard(), sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
