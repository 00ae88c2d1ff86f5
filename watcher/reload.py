"""Hot reload of rule files (and the templates they carry) on SIGHUP or when a file changes.

A new rule set is checked completely (`watcher/validation.py`, the same checks as at start and
in `config check`) before it replaces the running one; if any file has a problem, every problem
is logged as `file:line: message`, the failure is counted, and the old rules stay in force. A
reload that fails in any other way (an exception from loading, checking or installing) is
logged and counted the same: a rule file must never end the daemon. Kubernetes ConfigMap
volumes change files by swapping a symlink, so the change check compares the content digest
of every rule file, not mtimes.
"""
from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Callable, Collection, Mapping, Sequence

from rules.loader import expand
from rules.rule import Rule
from watcher.validation import check_rules

log = logging.getLogger("kea.reload")


class RuleReloader:
    def __init__(self, paths: Sequence[str], *, builtins: bool, apply: Callable[[list[Rule]], Mapping[str, str]],
                 notifiers: Collection[str] | None = None,
                 on_result: Callable[[str], None] = lambda result: None, packs: Sequence[str] = ()) -> None:
        """`apply(rules)` installs a valid set (on the pipeline thread) and returns what
        happened per rule; `notifiers` are the configured names that `notify` may use (None:
        not checked); `on_result('success'|'failure')` feeds the metric."""
        self.paths, self.builtins, self.apply, self.notifiers, self.on_result = paths, builtins, apply, notifiers, on_result
        self.packs = packs
        self._digest = self._files_digest()

    def _files_digest(self) -> str:
        h = hashlib.sha256()
        try:
            files = expand(self.paths)
        except (OSError, ValueError) as exc:  # e.g. a rule directory that cannot be listed
            h.update(f"<unlistable: {exc}>".encode())
            files = []
        for p in files:
            h.update(str(p).encode())
            try:
                h.update(Path(p).read_bytes())
            except (OSError, ValueError):
                h.update(b"<unreadable>")
        return h.hexdigest()

    def check_files(self) -> bool:
        """Reload when a rule file's content changed since the last load (polled)."""
        digest = self._files_digest()
        if digest == self._digest:
            return False
        return self.reload("files changed")

    def reload(self, reason: str) -> bool:
        """Check and install the rule files; False (logged, counted) if they are not installed."""
        self._digest = self._files_digest()
        try:
            result = check_rules(self.paths, builtins=self.builtins, notifiers=self.notifiers, packs=self.packs)
        except Exception as exc:  # noqa: BLE001 - whatever a rule file does, the daemon goes on
            return self._reject(reason, [f"cannot load the rules: {exc.__class__.__name__}: {exc}"[:500]])
        if not result.ok:
            return self._reject(reason, [str(p) for p in result.problems])
        try:
            how = self.apply(result.rules)
        except Exception as exc:  # noqa: BLE001 - e.g. the pipeline did not take the call in time
            log.error("reload (%s): installing the rules failed: %s: %s", reason, exc.__class__.__name__, exc)
            self.on_result("failure")
            return False
        changed = {k: v for k, v in how.items() if v != "unchanged"}
        log.info("rules reloaded (%s): %d rules, changes: %s", reason, len(result.rules), changed or "none")
        self.on_result("success")
        return True

    def _reject(self, reason: str, problems: list[str]) -> bool:
        for p in problems:
            log.error("reload rejected: %s", p)
        log.error("reload (%s) rejected with %d problems; the previous rules stay in force", reason, len(problems))
        self.on_result("failure")
        return False
