"""The config's cross-field rules: what the types alone do not express (choices, a notifier that
can be built, an Elasticsearch client that can be made, crontab expressions, the kubeconfig).
Each problem is reported at the key it is about; nothing here changes the process."""
from __future__ import annotations

import re
from datetime import timedelta
from typing import Protocol

from watcher.config import Config, notifier_defaults


class Reporter(Protocol):
    secrets: set[str]

    def fail(self, path: tuple[str | int, ...], message: str) -> None: ...


def check(cfg: Config, b: Reporter) -> None:
    """Cross-field rules the types alone do not express."""
    for check in (_check_choices, _check_port_and_kubeconfig, _check_packs, _check_routing_and_notifiers,
                  _check_elasticsearch, _check_scheduler, _check_silences, _check_inhibition):
        check(cfg, b)


def _check_silences(cfg: Config, b: Reporter) -> None:
    from watcher.silences.settings import check_silences

    check_silences(cfg, b)


def _check_choices(cfg: Config, b: Reporter) -> None:
    if cfg.language not in ("zh", "en"):
        b.fail(("language",), f"expected `zh` or `en`, got {cfg.language!r}")
    if cfg.kubernetes.endpoints not in ("auto", "endpointslices", "endpoints"):
        b.fail(("kubernetes", "endpoints"), "expected `auto`, `endpointslices` or `endpoints`")
    if cfg.kubernetes.request_timeout <= cfg.kubernetes.watch_timeout:
        b.fail(("kubernetes", "request_timeout"), "must be longer than watch_timeout, or a quiet watch looks like a dead one")
    if cfg.logging.format not in ("text", "json"):
        b.fail(("logging", "format"), "expected `text` or `json`")
    if cfg.logging.level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        b.fail(("logging", "level"), "expected DEBUG, INFO, WARNING or ERROR")
    try:
        import zoneinfo

        zoneinfo.ZoneInfo(cfg.timezone)
    except Exception:
        b.fail(("timezone",), f"unknown time zone {cfg.timezone!r} (expected an IANA name like Asia/Shanghai)")


def _check_packs(cfg: Config, b: Reporter) -> None:
    from rules.shipped import unknown_packs

    for i, message in unknown_packs(cfg.rules.packs):
        b.fail(("rules", "packs", i), message)


def _check_routing_and_notifiers(cfg: Config, b: Reporter) -> None:
    for i, name in enumerate(cfg.routing.default):
        if name not in cfg.notifiers:
            b.fail(("routing", "default", i), f"no notifier named `{name}` (defined: {', '.join(cfg.notifiers) or 'none'})")
    from notifiers import SettingsError, build_notifier

    for name, raw in cfg.notifiers.items():
        try:  # building a notifier checks it and has no side effect (nothing is registered)
            notifier = build_notifier(name, raw, defaults=notifier_defaults(cfg))
        except SettingsError as exc:
            b.fail(("notifiers", *exc.key_path), exc.message)
        except Exception as exc:  # noqa: BLE001 - e.g. a template nested past Jinja's parser
            b.fail(("notifiers", name), f"cannot be built ({exc.__class__.__name__})")  # the text may hold a secret
        else:
            b.secrets.update(notifier.settings.secrets())


def _check_elasticsearch(cfg: Config, b: Reporter) -> None:
    if not cfg.elasticsearch.enabled:
        return
    from watcher.es.client import EsConfigError, client_kwargs

    try:
        client_kwargs(cfg.elasticsearch)
    except EsConfigError as exc:
        b.fail(("elasticsearch",), str(exc))
    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]*", cfg.elasticsearch.index_prefix):
        b.fail(("elasticsearch", "index_prefix"), "expected lowercase letters, digits, '.', '_' or '-' "
                                                  "(an Elasticsearch index name), starting with a letter or digit")
    if cfg.elasticsearch.bulk.chunk_size < 1:
        b.fail(("elasticsearch", "bulk", "chunk_size"), "must be at least 1")


def _check_scheduler(cfg: Config, b: Reporter) -> None:
    for name in ("retention", "digest", "watchdog"):
        job = getattr(cfg.scheduler, name)
        if not job.enabled:
            continue
        if not job.cron and not job.interval:
            b.fail(("scheduler", name), "give `cron` or `interval`")
        elif job.cron and not job.interval:
            try:
                from apscheduler.triggers.cron import CronTrigger

                CronTrigger.from_crontab(job.cron)
            except ValueError as exc:
                b.fail(("scheduler", name, "cron"), f"invalid crontab expression {job.cron!r}: {exc}")


def _check_port_and_kubeconfig(cfg: Config, b: Reporter) -> None:
    if not 1 <= cfg.metrics.port <= 65535:
        b.fail(("metrics", "port"), "expected a TCP port from 1 to 65535")
    if cfg.kubernetes.kubeconfig:  # in-cluster credentials exist only in the pod: checked at run
        from watcher.kube.client import KubeconfigError, check_kubeconfig

        try:
            check_kubeconfig(cfg.kubernetes.kubeconfig, cfg.kubernetes.context)
        except KubeconfigError as exc:
            b.fail(("kubernetes", exc.key), str(exc))


def _check_inhibition(cfg: Config, b: Reporter) -> None:
    """`inhibit_rules`, each problem at its key's line (the model's own checks)."""
    from notifiers.inhibit_rules import InhibitRulesError
    from watcher.config import build_inhibit_rules

    if cfg.inhibition.node_not_ready_for <= timedelta(0):
        b.fail(("inhibition", "node_not_ready_for"), "must be longer than 0s (switch the built-ins off with "
                                                    "`inhibition: {builtin: false}`)")
    try:
        build_inhibit_rules(cfg)
    except InhibitRulesError as exc:
        for path, message in exc.problems:
            b.fail(path, message)
