"""What the deploy/ monitoring files may reference: the series and labels the daemon exports,
read from a live `watcher.metrics.Metrics()` registry, and a small PromQL reader that lists the
metric names, label matchers and grouping labels of an expression.

The reader is not a PromQL parser: it understands the subset the rules and the dashboard use
(selectors, ranges, offsets, aggregations with by/without, on/ignoring/group_*, functions,
numbers, Grafana `$variables`) and refuses what it cannot classify, so a typo in a series name
fails a test instead of passing unnoticed."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from prometheus_client.metrics import MetricWrapperBase

from watcher.metrics import Metrics

# Labels the scrape adds (Prometheus: job, instance; the Operator: namespace, pod, service,
# container, endpoint), `le` of histogram buckets.
TARGET_LABELS = {"job", "instance", "namespace", "pod", "service", "container", "endpoint", "le"}
KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
            "offset", "bool", "inf", "nan"}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_SELECTOR = re.compile(r"([a-zA-Z_:][\w:]*)?\s*\{([^}]*)\}")
_MATCHER = re.compile(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)\s*\"")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_IDENT = re.compile(r"(?<![\w$.])([a-zA-Z_:][\w:]*)(\s*\()?")


def exported_series() -> dict[str, set[str]]:
    """Every series name the daemon exports (counters with _total, histograms with _bucket /
    _sum / _count, info with _info), with its label names."""
    metrics = Metrics("test")
    # the series of Metrics itself, and of the stats objects that own theirs (silence_stats)
    holders = [metrics, *(v for v in vars(metrics).values()
                          if any(isinstance(x, MetricWrapperBase) for x in getattr(v, "__dict__", {}).values()))]
    for value in (v for holder in holders for v in vars(holder).values()):
        if isinstance(value, MetricWrapperBase) and value._labelnames:
            value.labels(*["x"] * len(value._labelnames))  # a child, so labelled metrics show samples
    metrics.watch_age("events", lambda: 0.0)
    metrics.rule_matches_from(lambda: {"some-rule": 1})
    series: dict[str, set[str]] = {}
    for family in metrics.registry.collect():
        for sample in family.samples:
            series.setdefault(sample.name, set()).update(sample.labels)
    return series


@dataclass
class Refs:
    metrics: set[str] = field(default_factory=set)
    matchers: list[tuple[str, str]] = field(default_factory=list)   # (metric, label)
    grouping: set[str] = field(default_factory=set)
    unknown: set[str] = field(default_factory=set)                 # identifiers not understood


def references(expr: str) -> Refs:
    refs = Refs()
    text = re.sub(r"\$\{?\w+\}?", "1", expr.replace("$__rate_interval", "5m").replace("$__interval", "1m"))
    for m in _SELECTOR.finditer(text):
        labels = [lm.group(1) for lm in _MATCHER.finditer(m.group(2))]
        name = m.group(1)
        if name and name not in KEYWORDS:
            refs.metrics.add(name)
            refs.matchers.extend((name, label) for label in labels)
        else:
            m2 = re.search(r'__name__\s*=\s*"([^"]+)"', m.group(2))
            if m2:
                refs.metrics.add(m2.group(1))
    text = _SELECTOR.sub(lambda m: (m.group(1) or "") + " ", text)
    text = _STRING.sub(" ", text)
    for m in _GROUPING.finditer(text):
        refs.grouping.update(x.strip() for x in m.group(2).split(",") if x.strip())
    text = _GROUPING.sub(" ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)                  # ranges and subqueries
    text = re.sub(r"\boffset\s+-?\d+[smhdwy]", " ", text)
    text = re.sub(r"\b\d+(?:\.\d+)?(?:e[+-]?\d+)?[smhdwy]?\b", " ", text)
    for m in _IDENT.finditer(text):
        name, call = m.group(1), m.group(2)
        if call or name.lower() in KEYWORDS:
            continue
        if name.startswith("kea_"):
            refs.metrics.add(name)
        else:
            refs.unknown.add(name)
    return refs


def problems(expr: str, series: dict[str, set[str]], *, where: str) -> list[str]:
    """Why `expr` references something the daemon does not export (empty: nothing)."""
    refs = references(expr)
    out = [f"{where}: {name!r} is not a series the daemon exports" for name in sorted(refs.metrics - series.keys())]
    out += [f"{where}: cannot tell what {name!r} is (not a kea_ series, keyword or function)"
            for name in sorted(refs.unknown)]
    for name, label in refs.matchers:
        if name in series and label not in series[name] | TARGET_LABELS:
            out.append(f"{where}: {name} has no label {label!r} (it has {sorted(series[name])})")
    known = set().union(*(series.get(n, set()) for n in refs.metrics)) | TARGET_LABELS
    out += [f"{where}: grouping by {label!r}, which none of its series has" for label in sorted(refs.grouping - known)]
    return out
