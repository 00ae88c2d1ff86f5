"""Read recorded watch streams: what `kubectl get pods,events,endpointslices -A -w
--output-watch-events -o json` prints (JSON objects `{"type": ..., "object": {...}}`, one per line
or pretty-printed one after another), or a plain `kubectl get -o json` List.

Yields `(where, watch_type, object)` with `where` = `file:line`; unreadable input is reported as
`RecordingError` items in the same stream so the caller can count it and go on: a bad line costs
that line (or the one pretty-printed value it belongs to), never the rest of the file.

The file is read line by line, in one pass. A line that starts with `{` or `[` starts a value;
the lines after it that do not (indented or closing lines of pretty-printed output) continue it.
Each such block is decoded once. A block that ends mid-value is joined with the next block when
that block does not read cleanly on its own and the join continues the value (a value printed
with `indent=0`); otherwise it is a torn line, reported, and the next block is read on its own.
A line that is not UTF-8 is a block of its own (with its continuation lines).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Union

_decoder = json.JSONDecoder()
#: JSON's own whitespace (str.isspace would also skip characters the decoder rejects).
_SPACE = re.compile(r"[ \t\n\r]*")


def _after_space(text: str, pos: int) -> int:
    """Where the JSON whitespace starting at `pos` ends (`pos` itself when there is none)."""
    match = _SPACE.match(text, pos)
    return match.end() if match else pos


@dataclass(frozen=True, slots=True)
class WatchItem:
    where: str
    watch_type: str
    obj: Any


@dataclass(frozen=True, slots=True)
class RecordingError:
    where: str
    message: str
    reason: str = "invalid_json"
    """Short label for `kea_records_skipped_total{reason}` and the replay stats: `unreadable`,
    `not_utf8`, `invalid_json`, `too_deep` or `not_a_watch_event`."""


Item = Union[WatchItem, RecordingError]


def read_recording(path: str | Path) -> Iterator[Item]:
    path = Path(path)
    try:
        f = path.open("rb")
    except OSError as exc:
        yield RecordingError(f"{path}:0", f"cannot read recording: {exc.strerror or exc}", "unreadable")
        return
    with f:
        try:
            yield from parse_lines(f, str(path))
        except OSError as exc:  # an I/O error mid-file (a vanished network mount)
            yield RecordingError(f"{path}:0", f"cannot read recording: {exc.strerror or exc}", "unreadable")


def parse_stream(text: str, name: str) -> Iterator[Item]:
    """`parse_lines` for text already in memory."""
    yield from parse_lines(text.encode("utf-8", "surrogatepass").splitlines(keepends=True), name)


@dataclass(slots=True)
class _Block:
    first: int
    """Line number of the block's first line."""
    lines: list[str]
    bad_byte: Optional[tuple[int, str]] = None
    """(line, what) of the first byte that is not UTF-8, when a line of the block had one."""


def parse_lines(lines: Iterable[bytes], name: str) -> Iterator[Item]:
    """Items from the lines of a recording (bytes, as read from the file)."""
    reader = _Reader(name)
    block: Optional[_Block] = None
    for number, raw in enumerate(lines, 1):
        text, bad_byte = _decode(raw, first=number == 1)
        # A line that is not UTF-8 starts a block too: the lines before it stay readable.
        if block is not None and (text[:1] in ("{", "[") or bad_byte):
            yield from reader.block(block)
            block = None
        if block is None:
            if not text.strip():
                continue
            block = _Block(number, [])
        block.lines.append(text)
        if bad_byte and not block.bad_byte:
            block.bad_byte = (number, bad_byte)
    if block is not None:
        yield from reader.block(block)
    yield from reader.finish()


def _decode(raw: bytes, *, first: bool) -> tuple[str, Optional[str]]:
    if first and raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]  # a byte-order mark some editors write
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        # Keep the line's structure (its first character decides blocks); its value is dropped.
        return raw.decode("utf-8", "replace"), f"byte 0x{raw[exc.start]:02x} at column {exc.start + 1}"


class _Reader:
    """Decodes blocks in order; holds back a value cut off by its block's end, in case the
    next block completes it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.held: Optional[_Cut] = None

    def block(self, block: _Block) -> Iterator[Item]:
        alone, cut = self._decode(block)
        complete = cut is None and not any(_failed_to_decode(item) for item in alone)
        # A block that reads cleanly on its own is never the rest of a held value.
        if self.held is not None and not complete and not block.bad_byte:
            items, joined_cut = self._decode(_Block(self.held.first, self.held.lines + block.lines))
            if not items or not _failed_to_decode(items[0]):
                self.held = joined_cut  # still open, or completed (and maybe the next one is cut off)
                yield from items
                return
        # Not the rest of it: the held value is torn. Report it, then this block on its own.
        yield from self.finish()
        self.held = cut
        yield from alone

    def finish(self) -> Iterator[Item]:
        if self.held is not None:
            cut, self.held = self.held, None
            yield self._error(cut.first, cut.first + len(cut.lines) - 1, cut.error_line,
                              f"invalid JSON: {cut.message}", "invalid_json")

    def _decode(self, block: _Block) -> tuple[list[Item], Optional[_Cut]]:
        """Every value in `block` (an error item ends the list where one failed), and the last
        value if the block's end cut it off."""
        last = block.first + len(block.lines) - 1
        if block.bad_byte:
            line, what = block.bad_byte
            return [self._error(block.first, last, line, f"not UTF-8 ({what})", "not_utf8")], None
        text = "".join(block.lines)
        out: list[Item] = []
        pos, line, counted = _after_space(text, 0), block.first, 0
        while pos < len(text):
            line += text.count("\n", counted, pos)  # incremental: each character is counted once
            counted = pos
            try:
                value, end = _decoder.raw_decode(text, pos)
            except RecursionError:
                return [*out, self._error(line, last, line, "nested too deeply to read", "too_deep")], None
            except json.JSONDecodeError as exc:
                end_of_text = len(text.rstrip())
                error_line = line + text.count("\n", pos, min(exc.pos, end_of_text))
                if exc.pos >= end_of_text:
                    return out, _Cut(line, text[pos:].splitlines(keepends=True), exc.msg, error_line)
                return [*out, self._error(line, last, error_line, f"invalid JSON: {exc.msg}", "invalid_json")], None
            out.extend(_items(value, f"{self.name}:{line}"))
            pos = _after_space(text, end)
        return out, None

    def _error(self, first: int, last: int, line: int, message: str, reason: str) -> RecordingError:
        skipped = f"; lines {first}-{last} skipped" if last > first else ""
        return RecordingError(f"{self.name}:{line}", f"{message}{skipped}", reason)


@dataclass(frozen=True, slots=True)
class _Cut:
    """A value the end of its block cut off: joined with the next block, or reported."""
    first: int
    lines: list[str]
    message: str
    error_line: int


def _failed_to_decode(item: Item) -> bool:
    return isinstance(item, RecordingError) and item.reason in ("invalid_json", "too_deep")


def _items(value: Any, where: str) -> Iterator[Item]:
    if not isinstance(value, dict):
        yield RecordingError(where, f"expected a JSON object, got {type(value).__name__}", "not_a_watch_event")
        return
    kind = value.get("kind")
    # `kind` is whatever the file says: a number or a list is for the normaliser to reject.
    if isinstance(kind, str) and kind.endswith("List") and isinstance(value.get("items"), list):
        # A List from `kubectl get -o json`: a snapshot, replayed as additions.
        item_kind = kind[: -len("List")] or None
        for obj in value["items"]:
            if isinstance(obj, dict) and "kind" not in obj and item_kind:
                obj = {**obj, "kind": item_kind}
            yield WatchItem(where, "ADDED", obj)
        return
    if "type" in value and "object" in value:
        yield WatchItem(where, str(value["type"]), value["object"])
        return
    if "kind" in value and "metadata" in value:
        yield WatchItem(where, "ADDED", value)
        return
    yield RecordingError(where, "expected a watch event {type, object}, an object, or a List", "not_a_watch_event")
