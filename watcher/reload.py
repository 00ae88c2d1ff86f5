"""Hot reload of rule files (and the templates they carry) on SIGHUP or when a file changes.

A new rule set is loaded and linted completely before it replaces the running one; if any
file has a problem, every problem is logged as `file:line: message`, the failure is counted,
and the old rules stay in force. Kubernetes ConfigMap volumes change files by swapping a
symlink, so the change check compares the content digest of every rule file, not mtimes.
"""
from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Callable, Sequence

from rules.loader import expand, load_rule_set
from rules.rule import Rule

log = logging.getLogger("kea.reload")


class RuleReloader:
    def __init__(self, paths: Sequence[str], *, builtins: bool, apply: Callable[[list[Rule]], dict],
                 validate: Callable[[list[Rule]], list[str]] = lambda rules: [],
                 on_result: Callable[[str], None] = lambda result: None, packs: Sequence[str] = ()) -> None:
        """`apply(rules)` installs a valid set (on the pipeline thread) and returns what
        happened per rule; `validate(rules)` adds checks that need the config (unknown
        notifier names); `on_result('success'|'failure'|'unchanged')` feeds the metric."""
        self.paths, self.builtins, self.apply, self.validate, self.on_result = paths, builtins, apply, validate, on_result
        self.packs = packs
        self._digest = self._files_digest()

    def _files_digest(self) -> str:
        h = hashlib.sha256()
        for p in expand(self.paths):
            h.update(str(p).encode())
            try:
                h.update(Path(p).read_bytes())
            except OSError:
                h.update(b"<unreadable>")
        return h.hexdigest()

    def check_files(self) -> bool:
        """Reload when a rule file's content changed since the last load (polled)."""
        digest = self._files_digest()
        if digest == self._digest:
            return False
        return self.reload("files changed")

    def reload(self, reason: str) -> bool:
        self._digest = self._files_digest()
        result = load_rule_set(self.paths, builtins=self.builtins, packs=self.packs)
        problems = [str(p) for p in result.problems] + (self.validate(result.rules) if result.ok else [])
        if problems:
            for p in problems:
                log.error("reload rejected: %s", p)
            log.error("reload (%s) rejected with %d problems; the previous rules stay in force", reason, len(problems))
            self.on_result("failure")
            return False
        how = self.apply(result.rules)
        changed = {k: v for k, v in how.items() if v != "unchanged"}
        log.info("rules reloaded (%s): %d rules, changes: %s", reason, len(result.rules), changed or "none")
        self.on_result("success")
        return True
