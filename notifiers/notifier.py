"""One configured robot: its settings, its platform (send) and its composer (compose).

A `Notifier` holds no state that changes while it delivers: the pacing of its robot belongs to
the worker that sends for it (worker.py, given a limiter per robot by the dispatcher), and what
happens after an attempt is settle.py's decision. `build_notifier` (build.py) makes one.
"""
from __future__ import annotations

import hashlib
import logging
from typing import Sequence

from rules.alert import Alert

from .clock import Monotonic
from .compose import Built, Composer, Message
from .platform import DeliveryResult, Platform
from .ratelimit import RateLimiter
from .redact import register_secrets
from .settings import NotifierSettings
from .templates import Renderer


class Notifier:
    def __init__(self, settings: NotifierSettings, sender: Platform) -> None:
        self.settings = settings
        self.name = settings.name
        self.platform = sender.platform
        """The platform's type name ("wecom"), as outcomes and metrics label it."""
        self.sender = sender
        """The send step: payload, signing, one HTTP attempt, classification."""
        self.log: logging.Logger = sender.log
        self.composer = Composer(settings, sender, logger=sender.log)
        """The compose step: render, digest, byte budget, mentions."""
        self.robot_key = hashlib.sha256(settings.url.encode()).hexdigest()[:16]
        """Identifies the robot without revealing its URL (limiters are shared per robot)."""
        # Building one has no side effect (config validation builds them): its secrets are
        # registered when it is put to work (`activate`); its logger and urllib3's carry the
        # redaction filter from the moment the platform class exists.
        self._active = False

    def __repr__(self) -> str:
        return f"<{type(self.sender).__name__} {self.name!r} robot={self.robot_key}>"

    @property
    def renderer(self) -> Renderer:
        return self.composer.renderer

    def activate(self) -> "Notifier":
        """Register this notifier's secrets for redaction (once; `deliver` does it before the
        first request, so nothing is sent, and so logged, unprotected)."""
        if not self._active:
            register_secrets(self.secrets())
            self._active = True
        return self

    def secrets(self) -> list[str]:
        return self.sender.secrets()

    def new_limiter(self, monotonic: Monotonic) -> RateLimiter:
        """Pacing for this notifier's robot (the dispatcher makes one per robot and shares it)."""
        return RateLimiter(rate_per_minute=self.settings.rate_per_minute,
                           burst=self.settings.burst, windows=self.sender.windows(),
                           monotonic=monotonic)

    def build(self, alerts: Sequence[Alert]) -> Built:
        return self.composer.build(alerts)

    def deliver(self, message: Message) -> DeliveryResult:
        """Exactly one HTTP attempt, classified. Never raises for network or platform errors."""
        self.activate()
        return self.sender.deliver(message)

    def send_now(self, alert: Alert) -> DeliveryResult:
        """Render and send one alert now, once, without outbox, pacing or retries
        (`notify test`: one message cannot exceed a robot's rate)."""
        return self.deliver(self.build([alert]).message)
