"""What every long-lived piece of the daemon is to the assembly: started in order, stopped in
reverse, and asked for its readiness checks."""
from __future__ import annotations

import time
from typing import Mapping, Protocol

from watcher.health import Check


class Service(Protocol):
    name: str

    def start(self) -> None: ...

    def stop(self, deadline: float) -> None:
        """Finish by `deadline`, a `time.monotonic()` value (the same one for every service of
        a shutdown); what is not done by then stays on disk for the next start."""

    def checks(self) -> Mapping[str, Check]:
        """Readiness checks (`/readyz`) by name."""


def remaining(deadline: float, *, at_least: float = 0.0) -> float:
    """Seconds left until `deadline` (never below `at_least`)."""
    return max(at_least, deadline - time.monotonic())
