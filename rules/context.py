"""What the engine's detectors see besides the record: the shared cluster state, what the current
record changed in it, and the boundary between history and news."""
from __future__ import annotations

from datetime import datetime
from typing import Container

from rules.model import Record
from rules.seen import Seen
from rules.state import ClusterState, Observation, Pods


class Context:
    def __init__(self, stale_before: datetime) -> None:
        self.stale_before = stale_before
        """Occurrences older than this are history and never fire: the last moment this cluster
        was known to be watched (a checkpoint), else the process start."""
        self.state = ClusterState()
        self.obs = Observation()
        """What the record being evaluated changed (`ClusterState.observe`)."""
        self.seen = Seen()
        """What instant incidents and frequency windows counted, so a restart's first LIST does
        not count it again (rules/seen.py)."""
        self.open: Container[str] = frozenset()
        """Keys of the open incidents of the rule being evaluated: a condition detector need
        not report a key whose condition does not hold when there is no incident to resolve
        (most of a frequency rule's occurrences)."""

    @property
    def occurrences(self) -> int:
        return self.obs.occurrences

    @property
    def pods(self) -> Pods:
        return self.state.pods

    def begin(self, record: Record) -> Observation:
        """Update the state with `record`; detectors then read `obs`."""
        self.obs = self.state.observe(record)
        return self.obs
