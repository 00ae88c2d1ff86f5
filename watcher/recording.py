"""Read recorded watch streams: what `kubectl get pods,events,endpointslices -A -w
--output-watch-events -o json` prints (JSON objects `{"type": ..., "object": {...}}`, one per line
or pretty-printed one after another), or a plain `kubectl get -o json` List.

Yields `(where, watch_type, object)` with `where` = `file:line`; unreadable input is reported as
`RecordingError` items in the same stream so the caller can count it and go on.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Union

_decoder = json.JSONDecoder()


@dataclass(frozen=True, slots=True)
class WatchItem:
    where: str
    watch_type: str
    obj: Any


@dataclass(frozen=True, slots=True)
class RecordingError:
    where: str
    message: str


Item = Union[WatchItem, RecordingError]


def read_recording(path: str | Path) -> Iterator[Item]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        yield RecordingError(f"{path}:0", f"cannot read recording: {exc}")
        return
    yield from parse_stream(text, str(path))


def parse_stream(text: str, name: str) -> Iterator[Item]:
    pos, n = 0, len(text)
    while True:
        while pos < n and text[pos].isspace():
            pos += 1
        if pos >= n:
            return
        line = text.count("\n", 0, pos) + 1
        where = f"{name}:{line}"
        try:
            value, end = _decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            yield RecordingError(f"{name}:{exc.lineno}", f"invalid JSON: {exc.msg}")
            # Resume at the next line: one bad line must not hide the rest of the recording.
            nxt = text.find("\n", max(pos, exc.pos))
            if nxt < 0:
                return
            pos = nxt + 1
            continue
        pos = end
        yield from _items(value, where)


def _items(value: Any, where: str) -> Iterator[Item]:
    if not isinstance(value, dict):
        yield RecordingError(where, f"expected a JSON object, got {type(value).__name__}")
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
    yield RecordingError(where, "expected a watch event {type, object}, an object, or a List")
