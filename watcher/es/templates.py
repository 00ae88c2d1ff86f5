"""Index names, aliases and the composable index templates that give them their mappings.

Every index the alerter writes is created implicitly by the first bulk write into it, so the
mapping must come from a template installed before that write: an index auto-created without it
gets dynamic mappings (labels exploding into objects, `message` only as `text`), and a mapping
cannot be changed once the index exists.

Layout, for a prefix `kea`:
    kea-events-YYYY.MM.DD        one doc per observed Event count      alias kea-events
    kea-endpoints-YYYY.MM.DD     one doc per endpoint-health change    alias kea-endpoints
    kea-terminations-YYYY.MM.DD  one doc per container termination     alias kea-terminations
    kea-alerts                   one doc per (alert, notifier)         (a single index)

Daily indices are dated by the document's own `@timestamp` (UTC), not by the time we write it:
`_id` uniqueness holds per index only, so a replay must land in the same index as the original.
"""
from __future__ import annotations

import functools
import logging
import re
from datetime import datetime, timezone
from typing import Any, Optional

log = logging.getLogger("kea.es")

#: The kinds of daily index, each with its own template and alias.
DAILY_KINDS = ("events", "endpoints", "terminations")
ALERTS = "alerts"

#: `priority` of our index templates. Elasticsearch refuses two templates with overlapping
#: patterns and equal priority; the built-in ones (logs-*-*, metrics-*-*) use 100.
TEMPLATE_PRIORITY = 200

_DATE_SUFFIX = "%Y.%m.%d"


def daily_index(prefix: str, kind: str, when: datetime) -> str:
    """`<prefix>-<kind>-YYYY.MM.DD` for the UTC day of `when` (naive datetimes are taken as UTC)."""
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc)
    # The digits by hand: strftime is three times slower, and this runs once per document.
    return "%s-%s-%04d.%02d.%02d" % (prefix, kind, when.year, when.month, when.day)


def alias(prefix: str, kind: str) -> str:
    """The alias over all daily indices of one kind (what Kibana's data views point at)."""
    return f"{prefix}-{kind}"


def alerts_index(prefix: str) -> str:
    return f"{prefix}-{ALERTS}"


def daily_index_pattern(prefix: str) -> re.Pattern[str]:
    """Matches exactly our daily index names for this prefix; group `day` is the date.
    `kea-x-events-…` (prefix `kea-x`) does not match prefix `kea`."""
    kinds = "|".join(DAILY_KINDS)
    return re.compile(rf"^{re.escape(prefix)}-(?P<kind>{kinds})-(?P<day>\d{{4}}\.\d{{2}}\.\d{{2}})$")


def parse_day(day: str) -> datetime:
    return datetime.strptime(day, _DATE_SUFFIX).replace(tzinfo=timezone.utc)


@functools.lru_cache(maxsize=1024)
def daily_index_day(prefix: str, index: str) -> Optional[tuple[str, datetime]]:
    """(kind, UTC midnight) of one of our daily indices for `prefix`; None for any other name
    (or a date that is no date). Cached: every document of a day names the same few indices,
    and `strptime` per document was a tenth of a backlog's CPU."""
    m = daily_index_pattern(prefix).match(index)
    if m is None:
        return None
    try:
        return m.group("kind"), parse_day(m.group("day"))
    except ValueError:
        return None


# --- mappings ---------------------------------------------------------------------------------

_KW: dict[str, Any] = {"type": "keyword"}
_KW_LONG: dict[str, Any] = {"type": "keyword", "ignore_above": 1024}
_DATE: dict[str, Any] = {"type": "date"}
_LONG: dict[str, Any] = {"type": "long"}
_INT: dict[str, Any] = {"type": "integer"}
_BOOL: dict[str, Any] = {"type": "boolean"}
# Free text that people both search in (text) and group by / filter on exactly (keyword).
# Lucene refuses terms over 32766 bytes; longer messages stay searchable as text only.
_TEXT_KW: dict[str, Any] = {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 2048}}}
# Labels and annotations: `flattened` maps the whole object as one field. Keys are opaque
# strings, so `app` and `app.kubernetes.io/name` neither collide nor add a mapping field per key
# (`index.mapping.total_fields.limit` defaults to 1000). Values are keywords, searchable as
# `labels.app.kubernetes.io/name: api`.
_FLAT: dict[str, Any] = {"type": "flattened", "ignore_above": 1024}

_COUNTS = {"properties": {"ready": _INT, "not_ready": _INT, "terminating": _INT, "total": _INT}}

#: Fields every document kind carries (the component template).
COMMON_PROPERTIES: dict[str, Any] = {
    "@timestamp": _DATE,
    "cluster": _KW,
    "namespace": _KW,
    "labels": _FLAT,
    "annotations": _FLAT,
    "listed": _BOOL,
    "watch_type": _KW,
    "resource_version": _KW,
}

PROPERTIES: dict[str, dict[str, Any]] = {
    "events": {
        "reason": _KW, "type": _KW, "message": _TEXT_KW, "count": _LONG,
        "first_timestamp": _DATE, "last_timestamp": _DATE,
        # the involved object
        "kind": _KW, "name": _KW, "uid": _KW, "field_path": _KW_LONG,
        "node": _KW, "reporting_component": _KW,
        "event_name": _KW, "event_uid": _KW,
    },
    "endpoints": {
        "service": _KW, "source_kind": _KW, "slice": _KW, "change": _KW, "healthy": _BOOL,
        "ready": _INT, "not_ready": _INT, "terminating": _INT, "total": _INT,
        "transition": {"properties": {"from": _COUNTS, "to": _COUNTS}},
        "addresses": {"properties": {"ip": _KW, "node": _KW, "pod": _KW, "ready": _BOOL,
                                     "serving": _BOOL, "terminating": _BOOL}},
    },
    "terminations": {
        "pod": _KW, "pod_uid": _KW, "container": _KW, "init": _BOOL, "ephemeral": _BOOL, "state": _KW,
        "reason": _KW, "exit_code": _INT, "signal": _INT, "message": _TEXT_KW, "oom": _BOOL,
        "started_at": _DATE, "finished_at": _DATE, "container_id": _KW_LONG,
        "restart_count": _INT, "memory_limit": _KW, "memory_limit_bytes": _LONG,
        "node": _KW, "workload": _KW, "workload_kind": _KW, "workload_name": _KW,
    },
    "alerts": {
        "alert_id": _KW_LONG, "delivery_id": _KW_LONG, "incident_key": _KW_LONG, "rule": _KW, "key": _KW_LONG, "status": _KW,
        "severity": _KW, "sequence": _INT, "started_at": _DATE, "at": _DATE, "count": _LONG,
        "kind": _KW, "name": _KW, "workload": _KW, "workload_kind": _KW, "workload_name": _KW,
        "summary": _TEXT_KW, "description": _TEXT_KW, "incident": _KW_LONG, "notify": _KW,
        "fields": _FLAT, "object_labels": _FLAT, "object_annotations": _FLAT,
        # kept in _source for Alert.from_dict, never searched
        "templates": {"type": "object", "enabled": False},
        "notifier": _KW, "result": _KW, "code": _KW, "detail": _TEXT_KW, "delivered_at": _DATE,
    },
}


def component_template_name(prefix: str) -> str:
    return f"{prefix}-common"


def component_template(prefix: str) -> dict[str, Any]:
    return {
        "template": {
            "settings": {"index": {"number_of_shards": 1}},
            "mappings": {
                # Unknown fields are kept in _source but not indexed: a newer daemon writing into
                # today's index (mapped by an older template) must not have documents rejected.
                "dynamic": False,
                "properties": COMMON_PROPERTIES,
            },
        },
        "_meta": {"managed_by": "kube-event-alerter"},
    }


def index_templates(prefix: str) -> dict[str, dict[str, Any]]:
    """Index template bodies by template name."""
    out: dict[str, dict[str, Any]] = {}
    for kind in (*DAILY_KINDS, ALERTS):
        daily = kind in DAILY_KINDS
        body: dict[str, Any] = {
            # the alerts index is a single index: an exact name is a valid pattern
            "index_patterns": [f"{prefix}-{kind}-*" if daily else alerts_index(prefix)],
            "composed_of": [component_template_name(prefix)],
            "priority": TEMPLATE_PRIORITY,
            "template": {"mappings": {"properties": PROPERTIES[kind]}},
            "_meta": {"managed_by": "kube-event-alerter"},
        }
        if daily:
            body["template"]["aliases"] = {alias(prefix, kind): {}}
        out[f"{prefix}-{kind}"] = body
    return out


def install_templates(client: Any, prefix: str) -> None:
    """PUT the component and index templates. Idempotent: a PUT replaces the template with the
    same body, and existing indices keep their mapping (new ones pick up the new template)."""
    client.cluster.put_component_template(name=component_template_name(prefix), **component_template(prefix))
    for name, body in index_templates(prefix).items():
        client.indices.put_index_template(name=name, **body)
    log.info("elasticsearch templates installed for prefix %s", prefix)
