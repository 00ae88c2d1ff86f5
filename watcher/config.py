"""The daemon's configuration: YAML in, validated dataclasses out.

Every problem names the file, the line, the key path and what was expected, and loading stops
with all problems listed (`ConfigError`). `${NAME}` / `${NAME:-default}` expand from the
environment in any string; a secret may instead be read from a file with `<key>_file: /path`
(Kubernetes Secret volumes), so no secret ever has to be written into the file itself. Every
secret value is collected in `Config.secrets` for the log redaction filter.
"""
from __future__ import annotations

import dataclasses
import os
import re
import typing
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from rules import durations
from rules.yamldoc import Lines, Problem, YamlDocError, load_documents, read_bounded

if TYPE_CHECKING:
    from notifiers.inhibit_rules import InhibitRule
    from notifiers.routes import Routes

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _doc(text: str, *, default: Any = dataclasses.MISSING, factory: Any = dataclasses.MISSING,
         secret: bool = False, raw: bool = False) -> Any:
    """A config field with its documentation (rendered into config.example.yaml comments).
    `raw`: kept as YAML data (`${ENV}` expanded) for the package that owns it to validate."""
    return field(default=default, default_factory=factory, metadata={"doc": text, "secret": secret, "raw": raw})


@dataclass
class LeaderElection:
    enabled: bool = _doc("Elect one active replica with a coordination.k8s.io/v1 Lease.", default=True)
    lease_name: str = _doc("Lease name.", default="kube-event-alerter")
    lease_namespace: str = _doc("Lease namespace; empty = the pod's own namespace.", default="")
    identity: str = _doc("This replica's identity; empty = hostname.", default="")
    lease_duration: timedelta = _doc("How long a lease is valid without renewal.", default=timedelta(seconds=15))
    renew_deadline: timedelta = _doc("The holder gives up leadership if it could not renew for this long.", default=timedelta(seconds=10))
    retry_period: timedelta = _doc("How often candidates try to acquire and the holder renews.", default=timedelta(seconds=2))


@dataclass
class Kubernetes:
    kubeconfig: str = _doc("Path to a kubeconfig; empty = in-cluster service account.", default="")
    context: str = _doc("kubeconfig context; empty = current.", default="")
    namespaces: list[str] = _doc("Namespaces to watch; empty = all.", factory=list)
    label_selector: str = _doc("Label selector applied to Pods and Events lists/watches.", default="")
    event_field_selector: str = _doc("Field selector for Events, evaluated by the apiserver (e.g. type!=Normal).", default="")
    pod_field_selector: str = _doc("Field selector for Pods (e.g. spec.nodeName=node-1).", default="")
    events: bool = _doc("Watch core/v1 Events.", default=True)
    pods: bool = _doc("Watch Pods (OOMKilled and terminations).", default=True)
    endpoints: str = _doc("Endpoint source: `endpointslices`, `endpoints` or `auto` (slices where served).", default="auto")
    watch_timeout: timedelta = _doc("Server-side watch timeout (timeoutSeconds).", default=timedelta(seconds=300))
    request_timeout: timedelta = _doc("Client read timeout; must exceed watch_timeout.", default=timedelta(seconds=330))
    leader_election: LeaderElection = _doc("Leader election for 2+ replicas.", factory=LeaderElection)


@dataclass
class Bulk:
    chunk_size: int = _doc("Documents per bulk request.", default=500)
    max_chunk_bytes: int = _doc("Bytes per bulk request.", default=5 * 1024 * 1024)
    flush_interval: timedelta = _doc("Send a partial batch after this long.", default=timedelta(seconds=2))


@dataclass
class Elasticsearch:
    enabled: bool = _doc("Persist events, endpoint changes, terminations and alert history.", default=False)
    hosts: list[str] = _doc("Node URLs.", factory=lambda: ["http://localhost:9200"])
    username: str = _doc("Basic auth user.", default="")
    password: str = _doc("Basic auth password (secret: use password_file or ${ENV}).", default="", secret=True)
    api_key: str = _doc("API key, base64 `id:key` (secret: use api_key_file or ${ENV}).", default="", secret=True)
    ca_certs: str = _doc("CA bundle path for TLS.", default="")
    verify_certs: bool = _doc("Verify TLS certificates.", default=True)
    request_timeout: timedelta = _doc("Per-request timeout.", default=timedelta(seconds=10))
    sniff_on_start: bool = _doc("Discover nodes at start (off: often wrong behind a load balancer).", default=False)
    index_prefix: str = _doc("Index names: <prefix>-events-YYYY.MM.DD, <prefix>-alerts, ...", default="kea")
    retention_days: int = _doc("Delete daily indices older than this many days (scheduler job); 0 keeps them forever.", default=30)
    bulk: Bulk = _doc("Bulk indexing.", factory=Bulk)
    spool_max_bytes: int = _doc("Disk spool bound while Elasticsearch is unreachable; oldest dropped first.", default=512 * 1024 * 1024)


@dataclass
class LocalHistory:
    enabled: bool = _doc("Without Elasticsearch, keep the same documents in SQLite in data_dir (for `events`).", default=True)
    retention_days: int = _doc("Delete documents of days older than this (the retention job); 0 keeps them.", default=30)
    max_bytes: int = _doc("Size cap; beyond it the oldest documents are deleted (counted).", default=256 * 1024 * 1024)
    flush_interval: timedelta = _doc("Commit queued documents this often (what a kill -9 can lose).", default=timedelta(seconds=2))


@dataclass
class RulesConfig:
    paths: list[str] = _doc("Rule files or directories of *.yaml.", factory=list)
    builtins: bool = _doc("Load the built-in oom-killed and endpoints-unhealthy rules.", default=True)
    packs: list[str] = _doc("Shipped rule packs to switch on (`common`), or single pack rules (`common/job-failed`).", factory=list)


@dataclass
class Routing:
    default: list[str] = _doc("Notifiers for alerts whose rule has no `notify`.", factory=list)
    routes: list[Any] = _doc("Routing tree below the default (notifiers/routes.py checks it).", factory=list, raw=True)
    kibana_url: str = _doc("Kibana base URL for links in messages; empty = no link.", default="")
    mention_label: str = _doc("Pod/workload label holding the owner to @mention.", default="owner")
    mention_annotation: str = _doc("Annotation holding the owner (wins over the label).", default="")
    external_url: str = _doc("The daemon's status port as people reach it (e.g. https://kea.example.com): "
                             "with silence_link_secret, each firing card gets a 静默 1 小时 link to it.", default="")
    silence_link_secret: str = _doc("Key signing the one-click silence links (secret: use silence_link_secret_file, "
                                    "or env KEA_SILENCE_LINK_SECRET); empty = no link.", default="", secret=True)


@dataclass
class SilencesConfig:
    enabled: bool = _doc("Judge alerts against silences (in Elasticsearch when enabled, else data_dir/silences.json).", default=True)
    refresh_interval: timedelta = _doc("How often a replica re-reads the silences from Elasticsearch.", default=timedelta(seconds=5))


@dataclass
class Api:
    token: str = _doc("Bearer token of the silences HTTP API on the metrics port (secret: use token_file, or env "
                      "KEA_API_TOKEN); empty = the API answers 403.", default="", secret=True)


@dataclass
class Inhibition:
    builtin: bool = _doc("The built-in inhibit rules: an unhealthy Service absorbs the OOMs that caused it, "
                         "a NotReady node the alerts on it (README Inhibition).", default=True)
    node_not_ready_for: timedelta = _doc("How long a node-not-ready alert inhibits the alerts on that node.",
                                         default=timedelta(minutes=10))


@dataclass
class Outbox:
    max_entries: int = _doc("Undelivered notifications kept; oldest dropped first beyond.", default=10000)


@dataclass
class Metrics:
    enabled: bool = _doc("Serve /metrics, /healthz and /readyz.", default=True)
    address: str = _doc("Listen address.", default="0.0.0.0")
    port: int = _doc("Listen port.", default=9102)


@dataclass
class Job:
    enabled: bool = _doc("Run this job.", default=True)
    cron: str = _doc("Crontab expression (minute hour day month weekday), in `timezone`.", default="")
    interval: timedelta = _doc("Or: run every this long.", default=timedelta(0))


@dataclass
class Scheduler:
    retention: Job = _doc("Delete old Elasticsearch indices (or local history days).", factory=lambda: Job(cron="30 3 * * *"))
    digest: Job = _doc("Daily digest of alerts per notifier.", factory=lambda: Job(enabled=False, cron="0 9 * * *"))
    watchdog: Job = _doc("Self-alert when a watcher is silent or the outbox is stuck.", factory=lambda: Job(interval=timedelta(minutes=1)))
    watchdog_silence: timedelta = _doc("A watcher silent this long (API reachable) is stuck.", default=timedelta(minutes=15))


@dataclass
class Logging:
    level: str = _doc("DEBUG, INFO, WARNING or ERROR.", default="INFO")
    format: str = _doc("`text` or `json`.", default="text")


@dataclass
class Config:
    cluster: str = _doc("This cluster's name, on every record, alert and document.", default="default")
    timezone: str = _doc("Time zone for message times and cron jobs.", default="Asia/Shanghai")
    language: str = _doc("Default message language: zh or en.", default="zh")
    data_dir: str = _doc("Spool and outbox directory (a volume in Kubernetes).", default="/var/lib/kube-event-alerter")
    kubernetes: Kubernetes = _doc("Cluster access and watches.", factory=Kubernetes)
    elasticsearch: Elasticsearch = _doc("History store.", factory=Elasticsearch)
    local_history: LocalHistory = _doc("The history in SQLite when Elasticsearch is off.", factory=LocalHistory)
    rules: RulesConfig = _doc("Rule files.", factory=RulesConfig)
    notifiers: dict[str, dict] = _doc("Robots by name; see notifiers/ for each type's keys.", factory=dict)
    routing: Routing = _doc("Default route and message extras.", factory=Routing)
    time_intervals: dict[str, Any] = _doc("Named times for routes' mute/active_time_intervals.", factory=dict, raw=True)
    inhibit_rules: list[Any] = _doc("Source alerts that keep target alerts from being sent (notifiers/inhibit_rules.py checks it).",
                                    factory=list, raw=True)
    inhibition: Inhibition = _doc("The built-in inhibit rules.", factory=Inhibition)
    silences: SilencesConfig = _doc("Silences: matchers + start/end, made with `silence add` or the HTTP API.", factory=SilencesConfig)
    api: Api = _doc("The HTTP API on the metrics port (silences).", factory=Api)
    outbox: Outbox = _doc("Durable notification outbox.", factory=Outbox)
    metrics: Metrics = _doc("Prometheus metrics and health endpoints.", factory=Metrics)
    scheduler: Scheduler = _doc("Background jobs.", factory=Scheduler)
    logging: Logging = _doc("Log output.", factory=Logging)
    source: str = field(default="", metadata={"internal": True})
    secrets: set[str] = field(default_factory=set, metadata={"internal": True})


def notifier_defaults(cfg: Config):
    """What every notifier inherits from the daemon's config."""
    from notifiers import NotifierDefaults

    from watcher.silences.settings import silence_linker

    return NotifierDefaults(timezone=cfg.timezone, language="en" if cfg.language == "en" else "zh", kibana_url=cfg.routing.kibana_url,
                            mention_label=cfg.routing.mention_label, mention_annotation=cfg.routing.mention_annotation,
                            silence_link=silence_linker(cfg))


class ConfigError(ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(map(str, problems)))
        self.problems = problems


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    path = Path(path)
    try:
        text = read_bounded(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(str(path), 0, f"cannot read config: {exc}")]) from None
    except YamlDocError as exc:
        raise ConfigError([exc.problem]) from None
    return parse_config(text, str(path), os.environ if env is None else env)


def parse_config(text: str, file: str, env: Mapping[str, str]) -> Config:
    try:
        docs = load_documents(text, file)
    except YamlDocError as exc:
        raise ConfigError([exc.problem]) from None
    if len(docs) > 1:
        raise ConfigError([Problem(file, 1, "expected one YAML document")])
    raw, lines = docs[0] if docs else ({}, Lines(file))
    builder = _Builder(lines, env)
    cfg = builder.build(Config, raw, ())
    from watcher.config_checks import check  # the cross-field rules, in their own module

    from watcher.silences.settings import secrets_from_env  # api.token, the link secret

    secrets_from_env(cfg, builder.secrets, env)
    check(cfg, builder)
    _check_routes(cfg, builder)
    if builder.problems:
        raise ConfigError(builder.problems)
    cfg.source, cfg.secrets = file, builder.secrets
    return cfg


def build_routes(cfg: Config) -> "Routes":
    """The routing tree of a loaded config (already checked by `parse_config`)."""
    from notifiers.routes import parse_routes

    return parse_routes(cfg.routing.default, cfg.routing.routes, cfg.time_intervals,
                        robots=list(cfg.notifiers), timezone=cfg.timezone)


def build_inhibit_rules(cfg: Config, endpoints_for: timedelta | None = None) -> "list[InhibitRule]":
    """The inhibit rules of a loaded config: the built-ins (unless switched off), then
    `inhibit_rules`. `endpoints_for`: the loaded `endpoints-unhealthy` rule's `for`, which
    the OOM look-ahead follows (default: the built-in rule's 30 s)."""
    from notifiers.inhibit_rules import ENDPOINTS_FOR, parse_inhibit_rules

    return parse_inhibit_rules(cfg.inhibit_rules or None, builtin=cfg.inhibition.builtin,
                               endpoints_for=ENDPOINTS_FOR if endpoints_for is None else endpoints_for,
                               node_not_ready_for=cfg.inhibition.node_not_ready_for)


def _check_routes(cfg: Config, builder: "_Builder") -> None:
    """`routing.routes` and `time_intervals`, each problem at its key's line."""
    from notifiers.routes import RoutesError

    try:
        build_routes(cfg)
    except RoutesError as exc:
        for path, message in exc.problems:
            builder.fail(path, message)


def _plain(hint: Any, origin: Any, value: Any) -> Any:
    """`value` as a bool, a non-negative int, a str or a list of str, per `hint`; `_BAD` if it
    is not one (the caller names the problem)."""
    if hint is bool:
        return value if isinstance(value, bool) else _BAD
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        return int(value) if isinstance(value, str) and value.isdigit() else _BAD
    if hint is str:
        return str(value) if isinstance(value, (str, int, float)) and not isinstance(value, bool) else _BAD
    if origin is list:
        items = [value] if isinstance(value, str) else value
        return items if isinstance(items, list) and all(isinstance(v, str) for v in items) else _BAD
    return _BAD


class _Builder:
    def __init__(self, lines: Lines, env: Mapping[str, str]) -> None:
        self.lines, self.env = lines, env
        self.problems: list[Problem] = []
        self.secrets: set[str] = set()

    def fail(self, path: tuple, message: str) -> None:
        dotted = ".".join(str(p) for p in path) or "(top level)"
        self.problems.append(self.lines.problem(path, f"{dotted}: {message}"))

    def build(self, cls: type, raw: Any, path: tuple) -> Any:
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            self.fail(path, f"expected a mapping, got {_typename(raw)}")
            return cls()
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
        values: dict[str, Any] = {}
        for key, value in raw.items():
            name = str(key)
            if name.endswith("_file") and name[:-5] in fields and fields[name[:-5]].metadata.get("secret"):
                self._from_file(name, value, path, values)
                continue
            if name not in fields:
                import difflib

                close = difflib.get_close_matches(name, list(fields), n=1)
                hint = f" (did you mean `{close[0]}`?)" if close else ""
                self.fail((*path, key), f"unknown key{hint}; expected one of {', '.join(fields)}")
                continue
            if fields[name].metadata.get("raw"):
                values[name] = self.expand(value, (*path, key))
                continue
            converted = self.convert(hints[name], value, (*path, key))
            if converted is not _BAD:
                values[name] = converted
                if fields[name].metadata.get("secret") and converted:
                    self.secrets.add(converted)
        return cls(**values)

    def _from_file(self, key: str, value: Any, path: tuple, values: dict) -> None:
        value = self.expand(value, (*path, key))
        if not isinstance(value, str):
            self.fail((*path, key), "expected a file path")
            return
        try:
            secret = Path(value).read_text(encoding="utf-8").strip()
        except OSError as exc:
            self.fail((*path, key), f"cannot read secret file: {exc.strerror}")
            return
        values[key[:-5]] = secret
        if secret:
            self.secrets.add(secret)

    def expand(self, value: Any, path: tuple) -> Any:
        if isinstance(value, str):
            def sub(m: re.Match) -> str:
                name, default = m.group(1), m.group(2)
                if name in self.env:
                    return self.env[name]
                if default is not None:
                    return default
                self.fail(path, f"environment variable {name} is not set (write ${{{name}:-default}} for a default)")
                return ""
            return _ENV.sub(sub, value)
        if isinstance(value, list):
            return [self.expand(v, (*path, i)) for i, v in enumerate(value)]
        if isinstance(value, dict):
            return {k: self.expand(v, (*path, k)) for k, v in value.items()}
        return value

    def convert(self, hint: Any, value: Any, path: tuple) -> Any:
        value = self.expand(value, path)
        origin = typing.get_origin(hint)
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            return self.build(hint, value, path)
        if hint is timedelta:
            try:
                return durations.parse(value)
            except ValueError as exc:
                self.fail(path, str(exc))
                return _BAD
        if origin is dict and isinstance(value, dict):
            return self._notifiers(value, path)
        converted = _plain(hint, origin, value)
        if converted is not _BAD:
            return converted
        shown = "" if str(path[-1]) in _SECRET_KEYS else f" {value!r:.40}"  # never echo a secret
        self.fail(path, f"expected {_describe(hint)}, got {_typename(value)}{shown}")
        return _BAD

    def _notifiers(self, value: dict, path: tuple) -> dict:
        """Notifier mappings stay raw for the notifiers package to validate; `<key>_file`
        becomes `<key>` here, and every string under a secret-looking key is remembered."""
        out = {}
        for name, raw in value.items():
            if not isinstance(raw, dict):
                out[str(name)] = raw
                continue
            resolved: dict[str, Any] = {}
            for k, v in raw.items():
                if isinstance(k, str) and k.endswith("_file"):
                    self._from_file(k, v, (*path, name), resolved)
                else:
                    resolved[k] = v
            for k, v in resolved.items():
                if k in ("url", "secret", "hmac_secret", "token", "key") and isinstance(v, str) and v:
                    self.secrets.add(v)
            out[str(name)] = resolved
        return out


_BAD = object()
_SECRET_KEYS = frozenset({"password", "api_key", "url", "secret", "hmac_secret", "token", "key", "silence_link_secret"})


def _typename(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "nothing"}.get(type(value), type(value).__name__)


def _describe(hint: Any) -> str:
    if hint is timedelta:
        return "a duration like 30s, 5m, 1h"
    if hint is bool:
        return "true or false"
    if hint is int:
        return "a whole number ≥ 0"
    if hint is str:
        return "a string"
    if typing.get_origin(hint) is list:
        return "a list of strings"
    return "a mapping"
