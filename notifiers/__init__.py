"""Delivery of alerts to IM group robots (WeCom, DingTalk, Feishu) and generic webhooks.

The notify path, one file per step (Alertmanager's notify stages):
  route    dispatcher.py   the rule's `notify` or the default route → one durable outbox
                           entry per notifier (outbox.py), handed to that notifier's worker
  pace     worker.py       the robot's rate limiter (ratelimit.py, one per robot URL) says when
  compose  compose.py      render (templates.py, card.py) → digest when alerts queued up →
                           fit to the byte budget (text.py) → mentions (mentions.py)
  send     platform.py     one signed HTTP attempt, classified by the platform's code table;
                           wecom.py, dingtalk.py, feishu.py, webhook.py hold each platform
  settle   settle.py       confirm / retry / pause / dead-letter: a pure decision the worker
                           applies to the outbox and the limiter
  record   outcome.py      a DeliveryOutcome per step, with its alerts, for metrics and history
A `Notifier` (notifier.py, made by build.py from config) pairs a platform with its composer.
Only the Lease holder's dispatcher sends (`start_sending` / `stop_sending`).

Only `rules.alert.Alert` is imported from `rules`; nothing here imports `watcher`.
"""
from __future__ import annotations

from .build import PLATFORMS, build_notifier
from .compose import Message
from .dispatcher import Dispatcher
from .notifier import Notifier
from .outbox import KnownDelivered, Outbox, OutboxEntry, delivered_hash, entry_id
from .outcome import DeliveryOutcome
from .platform import DeliveryResult
from .samples import sample_alert
from .settings import NotifierDefaults, NotifierSettings, SettingsError
from .templates import check_template

__all__ = [
    "DeliveryOutcome", "DeliveryResult", "Dispatcher", "KnownDelivered", "Message", "Notifier",
    "NotifierDefaults", "NotifierSettings", "Outbox", "OutboxEntry", "PLATFORMS", "SettingsError",
    "build_notifier", "check_template", "delivered_hash", "entry_id", "sample_alert",
]
