"""Load YAML and remember the line of every key, so errors can say `file:line: message`.

Used for rule files and (by the watcher) for the config file. Duplicate keys are an error:
PyYAML would silently keep the last one, which hides typos. Rule files come from whoever may
edit a ConfigMap, so hostile YAML is refused while loading, as a problem with its line: a
recursive alias, nesting deeper than `MAX_DEPTH` (PyYAML's composer recurses per level), an
alias bomb (aliases expand to more than `MAX_NODES` nodes: "billion laughs" would need GBs)
and files over `MAX_BYTES`. No rule or config comes near these bounds.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Iterator, Union

import yaml

Key = Union[str, int, float]
"""A mapping key as YAML gives it (a bool is an int); a list index is an int."""
KeyPath = tuple[Key, ...]
"""Keys and indexes from the document root to a value: `("rules", 0, "match")`."""

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 100_000


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
    """Key path (keys and indexes from the document root) -> 1-based line."""

    def __init__(self, file: str) -> None:
        self.file = file
        self._lines: dict[KeyPath, int] = {}
        self._text: dict[KeyPath, int] = {}

    def set(self, path: KeyPath, line: int) -> None:
        self._lines[path] = line

    def set_text(self, path: KeyPath, line: int) -> None:
        """`path` is a literal block (`|`) whose text starts at `line`, one line per line."""
        self._text[path] = line

    def below(self, prefix: KeyPath, data: Any) -> tuple[dict[KeyPath, int], dict[KeyPath, int]]:
        """Key lines and literal-text lines of `data` (the value at `prefix`), by path relative
        to it. Walks `data`, not every line of the file: a file may hold thousands of rules."""
        keys: dict[KeyPath, int] = {}
        texts: dict[KeyPath, int] = {}
        stack: list[tuple[KeyPath, Any]] = [((), data)]
        while stack:
            rel, value = stack.pop()
            full = (*prefix, *rel)
            if full in self._lines:
                keys[rel] = self._lines[full]
            if full in self._text:
                texts[rel] = self._text[full]
            if isinstance(value, dict):
                stack.extend(((*rel, k), v) for k, v in value.items())
            elif isinstance(value, list):
                stack.extend(((*rel, i), v) for i, v in enumerate(value))
        return keys, texts

    def line(self, path: KeyPath) -> int:
        """The line of `path`, or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self._lines:
                return self._lines[path]
            path = path[:-1]
        return self._lines.get((), 1)

    def problem(self, path: KeyPath, message: str) -> Problem:
        return Problem(self.file, self.line(path), message)


def read_bounded(path: str | os.PathLike[str]) -> str:
    """A file's text, refused (YamlDocError) before reading if it is larger than MAX_BYTES."""
    with open(path, "rb") as f:
        data = f.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise YamlDocError(_too_large(str(path)))
    return data.decode("utf-8")


def _too_large(file: str) -> Problem:
    return Problem(file, 1, f"file is larger than {MAX_BYTES // 1024 // 1024} MiB: not a rule or config file")


def load_documents(text: str, file: str) -> list[tuple[Any, Lines]]:
    """Every document in `text` as plain Python data with its line map."""
    if len(text) > MAX_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise YamlDocError(_too_large(file))
    try:
        nodes = list(_compose_all(text, file))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        reason = getattr(exc, "problem", None) or str(exc)
        raise YamlDocError(Problem(file, line, f"invalid YAML: {reason}")) from None
    converter = _Converter()
    out = []
    for node in nodes:
        if node is None:
            continue
        lines = Lines(file)
        out.append((converter.convert(node, (), lines), lines))
    return out


class _DepthLimitedLoader(yaml.SafeLoader):
    """PyYAML's composer recurses once per nesting level: refuse to go deeper than MAX_DEPTH
    (a YAML error at the line) instead of overflowing the stack."""

    def __init__(self, text: str, file: str) -> None:
        super().__init__(text)
        self.file, self._depth = file, 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                # types-PyYAML leaves Parser.peek_event unannotated
                line = self.peek_event().start_mark.line + 1  # type: ignore[no-untyped-call]
                raise YamlDocError(Problem(self.file, line, f"YAML nested deeper than {MAX_DEPTH} levels"))
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _compose_all(text: str, file: str) -> Iterator[yaml.Node | None]:
    loader = _DepthLimitedLoader(text, file)
    try:
        while loader.check_node():
            yield loader.get_node()
    finally:
        loader.dispose()


class _Converter:
    """Node graph -> plain data, within a budget. Aliases make the graph a DAG (or a cycle), and
    every visit of a shared node is a copy: count the visits, and refuse a node inside itself."""

    def __init__(self) -> None:
        self.constructor = yaml.constructor.SafeConstructor()  # per load: it caches every node it saw
        self.visits = 0
        self.seen: set[int] = set()
        self.aliased = False
        self.open: set[int] = set()  # the nodes on the path from the root

    def _enter(self, node: yaml.Node, depth: int, file: str, line: int) -> None:
        if id(node) in self.open:
            raise YamlDocError(Problem(file, line, "recursive YAML alias: a node that contains itself"))
        if depth > MAX_DEPTH:
            raise YamlDocError(Problem(file, line, f"YAML nested deeper than {MAX_DEPTH} levels (through aliases)"))
        self.aliased = self.aliased or id(node) in self.seen
        self.seen.add(id(node))
        self.visits += 1
        if self.visits > MAX_NODES:
            what = "YAML aliases expand to more than" if self.aliased else "more YAML nodes than"
            raise YamlDocError(Problem(file, line, f"{what} {MAX_NODES} nodes"))

    def convert(self, node: yaml.Node, path: KeyPath, lines: Lines, used_at: int | None = None) -> Any:
        """`used_at`: the line that refers to `node` (its key's, or its list's for an alias)."""
        lines.set(path, node.start_mark.line + 1)
        self._enter(node, len(path), lines.file, used_at or node.start_mark.line + 1)
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, path, lines)
        self.open.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path, lines)
            return [self.convert(item, (*path, i), lines, self._alias_line(item, node)) for i, item in enumerate(node.value)]
        finally:
            self.open.discard(id(node))

    def _alias_line(self, item: yaml.Node, seq: yaml.Node) -> int | None:
        # An alias is the anchored node itself (PyYAML keeps no alias position): name the list.
        return seq.start_mark.line + 1 if id(item) in self.seen else None

    def _mapping(self, node: yaml.MappingNode, path: KeyPath, lines: Lines) -> dict[Key, Any]:
        out: dict[Key, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise YamlDocError(lines.problem(path, "YAML merge keys (<<) are not supported"))
            key = self._construct(key_node, lines.file) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, (str, int, float, bool)):
                raise YamlDocError(Problem(lines.file, key_node.start_mark.line + 1, "mapping keys must be scalars"))
            if key in out:
                raise YamlDocError(Problem(lines.file, key_node.start_mark.line + 1, f"duplicate key `{key}`"))
            sub = (*path, key)
            out[key] = self.convert(value_node, sub, lines, key_node.start_mark.line + 1)
            lines.set(sub, key_node.start_mark.line + 1)
        return out

    def _scalar(self, node: yaml.ScalarNode, path: KeyPath, lines: Lines) -> Any:
        if node.style == "|":  # the text starts on the line after the indicator
            lines.set_text(path, node.start_mark.line + 2)
        return self._construct(node, lines.file)

    def _construct(self, node: yaml.ScalarNode, file: str) -> Any:
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as exc:
            reason = exc.problem
        except Exception as exc:  # noqa: BLE001
            # PyYAML lets Python's own errors through: `2001-13-45`, `!!int xyz`, `!!int ""`, 5000 digits
            reason = f"not a valid {node.tag.rsplit(':', 1)[-1]} ({exc.__class__.__name__}: {str(exc)[:80]})"
        raise YamlDocError(Problem(file, node.start_mark.line + 1, f"invalid value: {reason}"))
