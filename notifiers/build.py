"""`build_notifier`: from a notifier's raw config mapping to a ready notifier, or SettingsError.

The config's `type` picks the platform (send step, one file each); the notifier pairs it with
its composer (compose step). Pacing is not built here: the dispatcher gives each worker the
limiter of its robot (worker.py)."""
from __future__ import annotations

import logging
from typing import Any, Mapping

import requests

from .clock import WallClock, utcnow
from .dingtalk import DingTalkPlatform
from .feishu import FeishuPlatform
from .notifier import Notifier
from .platform import USER_AGENT, Platform
from .settings import NotifierDefaults, SettingsError, parse_settings
from .templates import check_template
from .webhook import WebhookPlatform
from .wecom import WeComPlatform

PLATFORMS: Mapping[str, type[Platform]] = {
    "wecom": WeComPlatform,
    "dingtalk": DingTalkPlatform,
    "feishu": FeishuPlatform,
    "webhook": WebhookPlatform,
}


def build_notifier(name: str, raw: Mapping[str, Any], *,
                   defaults: NotifierDefaults = NotifierDefaults(),
                   session: requests.Session | None = None,
                   clock: WallClock = utcnow) -> Notifier:
    """Validate `raw` (keys: see notifiers/settings.py) and build the notifier.

    `session`: one per notifier; a new one if not given. `clock`: aware UTC wall clock (for
    signing timestamps)."""
    if not isinstance(raw, Mapping):
        raise SettingsError((name,), f"expected a mapping, got {type(raw).__name__}")
    kind = raw.get("type")
    if not isinstance(kind, str) or kind not in PLATFORMS:
        problem = "required" if kind is None else f"got {kind!r}"
        raise SettingsError((name, "type"), f"expected one of {', '.join(PLATFORMS)}; {problem}")
    cls = PLATFORMS[kind]
    settings = parse_settings(name, raw, cls.spec, defaults)
    if settings.template:
        error = check_template(settings.template)
        if error:
            raise SettingsError((name, "template"), error)
    if session is None:
        session = requests.Session()
        session.headers["User-Agent"] = USER_AGENT
    notifier = Notifier(settings, cls(settings, session=session, clock=clock))
    if settings.keywords:
        _check_keywords(notifier)
    return notifier


def _check_keywords(notifier: Notifier) -> None:
    """The robot rejects messages without a keyword: say so at start-up if the template
    carries none (the composer still appends one, so nothing is lost)."""
    from .samples import sample_alert

    text = notifier.renderer.render(sample_alert("oom"))
    if not any(k in text for k in notifier.settings.keywords):
        logging.getLogger(f"kea.notifiers.{notifier.platform}").warning(
            "%s: the template contains none of the robot's keywords (%s); the first one is "
            "appended to every message", notifier.name, ", ".join(notifier.settings.keywords))
