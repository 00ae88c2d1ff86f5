"""`kube-event-alerter notify test NAME`: one sample alert through one configured notifier,
with the platform's answer printed (redacted), so a new robot can be checked before an
incident needs it."""
from __future__ import annotations

import sys
from typing import Literal

from notifiers import build_notifier, sample_alert
from watcher.config import Config, notifier_defaults


def notify_test(cfg: Config, name: str, kind: Literal["oom", "unhealthy"]) -> int:
    raw = cfg.notifiers.get(name)
    if raw is None:
        print(f"{cfg.source}: no notifier named `{name}` (defined: {', '.join(cfg.notifiers) or 'none'})", file=sys.stderr)
        return 2
    notifier = build_notifier(name, raw, defaults=notifier_defaults(cfg)).activate()
    alert = sample_alert(kind)
    result = notifier.send_now(alert)
    print(f"{name} ({notifier.platform}): {result}")
    if result.body:
        print(f"answer: {result.body}")
    return 0 if result.ok else 1
