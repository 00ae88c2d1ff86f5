"""Load YAML and remember the line of every key, so errors can say `file:line: message`.

Used for rule files and (by the watcher) for the config file. Duplicate keys are an error:
PyYAML would silently keep the last one, which hides typos.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

Path = tuple  # of str | int


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class YamlDocError(ValueError):
    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


class Lines:
    """Path (keys and indexes from the document root) -> 1-based line."""

    def __init__(self, file: str) -> None:
        self.file = file
        self._lines: dict[Path, int] = {}
        self._text: dict[Path, int] = {}

    def set(self, path: Path, line: int) -> None:
        self._lines[path] = line

    def set_text(self, path: Path, line: int) -> None:
        """`path` is a literal block (`|`) whose text starts at `line`, one line per line."""
        self._text[path] = line

    def below(self, prefix: Path) -> tuple[dict[Path, int], dict[Path, int]]:
        """Key lines and literal-text lines under `prefix`, by path relative to it."""
        n = len(prefix)
        return ({p[n:]: line for p, line in self._lines.items() if p[:n] == prefix},
                {p[n:]: line for p, line in self._text.items() if p[:n] == prefix})

    def line(self, path: Path) -> int:
        """The line of `path`, or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self._lines:
                return self._lines[path]
            path = path[:-1]
        return self._lines.get((), 1)

    def problem(self, path: Path, message: str) -> Problem:
        return Problem(self.file, self.line(path), message)


def load_documents(text: str, file: str) -> list[tuple[Any, Lines]]:
    """Every document in `text` as plain Python data with its line map."""
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        reason = getattr(exc, "problem", None) or str(exc)
        raise YamlDocError(Problem(file, line, f"invalid YAML: {reason}")) from None
    out = []
    for node in nodes:
        if node is None:
            continue
        lines = Lines(file)
        out.append((_convert(node, (), lines), lines))
    return out


_constructor = yaml.SafeLoader.__new__(yaml.SafeLoader)
yaml.constructor.SafeConstructor.__init__(_constructor)


def _convert(node: yaml.Node, path: Path, lines: Lines) -> Any:
    lines.set(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise YamlDocError(lines.problem(path, "YAML merge keys (<<) are not supported"))
            key = _constructor.construct_object(key_node) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, (str, int, float, bool)):
                raise YamlDocError(Problem(lines.file, key_node.start_mark.line + 1, "mapping keys must be scalars"))
            if key in out:
                raise YamlDocError(Problem(lines.file, key_node.start_mark.line + 1, f"duplicate key `{key}`"))
            sub = (*path, key)
            out[key] = _convert(value_node, sub, lines)
            lines.set(sub, key_node.start_mark.line + 1)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*path, i), lines) for i, item in enumerate(node.value)]
    if node.style == "|":  # the text starts on the line after the indicator
        lines.set_text(path, node.start_mark.line + 2)
    try:
        return _constructor.construct_object(node, deep=True)
    except yaml.constructor.ConstructorError as exc:
        raise YamlDocError(Problem(lines.file, node.start_mark.line + 1, f"invalid value: {exc.problem}")) from None
