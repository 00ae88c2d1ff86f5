"""What a restart must not take for news: the occurrences instant incidents already counted.

After a restart the boundary between history and news is the checkpoint's `watched_until`, a
minute before its save (watcher/checkpoint.py `MARGIN`), and the first LIST shows every Event
and Pod again. An Event the last run folded into an incident, or announced in one whose fold
window has since closed, is then an occurrence after the boundary, and the engine's per-Event
counts (`rules.state.Events`) are not in the checkpoint: it would open a new incident, with a
new id (an Event's incident id carries the resourceVersion of the change that opened it), and
the group would get the same Event twice.

So each instant incident leaves its last occurrence's time behind: while it is open in the
incident itself, and for `RECENT` after its fold window closed in `closed`. Both go into the
snapshot; after a restore, an occurrence of that rule and key no later than that time was
counted already and is not news (`already_counted`). An open frequency incident's window comes
back with its hits (`FrequencyDetector.restore_window`), and the LIST's copies of those hits are
skipped the same way. The restored times are dropped once the first LIST has been read
(`Engine.reconcile`): from then on the stream brings only changes.
"""
from __future__ import annotations

from collections import OrderedDict
from datetime import datetime, timedelta
from typing import Any, Iterable

RECENT = timedelta(minutes=3)
"""How long a closed incident's last occurrence is remembered: the checkpoint's MARGIN (60 s)
plus room for the clock skew between the apiserver and the daemon. A snapshot holds one entry
per instant incident closed within it (about 100 bytes each)."""


class Seen:
    """Per rule and key: the newest occurrence of instant incidents closed within `RECENT`, and
    after a restore, what the last run had counted."""

    def __init__(self) -> None:
        self._closed: OrderedDict[tuple[str, str], datetime] = OrderedDict()
        self._restored: dict[tuple[str, str], datetime] = {}

    def closed(self, rule: str, key: str, last_seen: datetime | None) -> None:
        """An instant incident ended (its fold window, or `resolve_after`)."""
        if last_seen is not None:
            self._closed[(rule, key)] = last_seen
            self._closed.move_to_end((rule, key))

    def trim(self, now: datetime) -> None:
        closed, cutoff = self._closed, now - RECENT
        while closed:
            ident, last = next(iter(closed.items()))
            if last >= cutoff:
                break
            del closed[ident]

    def restore(self, rule: str, key: str, last_seen: datetime | None) -> None:
        if last_seen is not None:
            ident = (rule, key)
            self._restored[ident] = max(last_seen, self._restored.get(ident, last_seen))

    def already_counted(self, rule: str, key: str, at: datetime) -> bool:
        """Restored: an occurrence at `at` of this rule and key was counted before the restart."""
        if not self._restored:
            return False
        last = self._restored.get((rule, key))
        return last is not None and at <= last

    def listed(self) -> None:
        """The first LIST has been read: nothing older comes again."""
        self._restored.clear()

    def to_snapshot(self) -> list[list[str]]:
        return [[rule, key, last.isoformat()] for (rule, key), last in self._closed.items()]

    def restore_snapshot(self, entries: Iterable[Any]) -> None:
        """`to_snapshot` data; entries that cannot be read are skipped."""
        for entry in entries:
            try:
                rule, key, last = entry
                ident, when = (str(rule), str(key)), datetime.fromisoformat(last)
            except (TypeError, ValueError):
                continue
            self._closed[ident] = when  # a second restart soon after must know them too
            self.restore(*ident, when)
