"""Delivery of alerts to IM group robots (WeCom, DingTalk, Feishu) and generic webhooks.

Pipeline (Alertmanager's notify stages, in small files):
  Dispatcher.submit → Outbox (durable) → Worker per notifier: rate limiter (per robot) →
  Notifier.build (render → limit, digest when alerts queued up) → Notifier.deliver (one signed
  HTTP attempt, classified by the platform's code table) → retry / pause / confirm / dead-letter
  → DeliveryOutcome for metrics and history.
Only the Lease holder's dispatcher sends (`start_sending` / `stop_sending`).

Only `rules.alert.Alert` is imported from `rules`; nothing here imports `watcher`.
"""
from __future__ import annotations

from .base import DeliveryResult, Message, Notifier
from .build import PLATFORMS, build_notifier
from .dispatcher import Dispatcher
from .outbox import KnownDelivered, Outbox, OutboxEntry, delivered_hash, entry_id
from .outcome import DeliveryOutcome
from .samples import sample_alert
from .settings import NotifierDefaults, NotifierSettings, SettingsError
from .templates import check_template

__all__ = [
    "DeliveryOutcome", "DeliveryResult", "Dispatcher", "KnownDelivered", "Message", "Notifier",
    "NotifierDefaults", "NotifierSettings", "Outbox", "OutboxEntry", "PLATFORMS", "SettingsError",
    "build_notifier", "check_template", "delivered_hash", "entry_id", "sample_alert",
]
