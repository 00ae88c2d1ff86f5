"""Split a raw watch response into events: newline-delimited JSON, parsed with orjson.

The apiserver writes one JSON object per line (`{"type": ..., "object": ...}`) in a chunked
response; a TCP read can end anywhere, so a line may arrive in pieces ("torn") and one read
may carry many lines. A stream that ends in the middle of a line was cut: the partial event
must not be used (its resourceVersion was never acknowledged), so that is an error and the
watcher resumes from the last complete event.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator

import orjson

from watcher.kube.client import Unavailable

#: Bytes per read. `read1` returns what has arrived (up to this), so it adds no latency.
READ_SIZE = 64 * 1024


class TornStream(Unavailable):
    """The stream ended inside a line, or a line was not a JSON object."""


def iter_events(read: Callable[[int], bytes]) -> Iterator[dict[str, Any]]:
    """Yield each event dict from `read(n)` calls until one returns b"" (end of stream)."""
    for line in iter_lines(read):
        if line and not line.isspace():  # blank keep-alive lines carry nothing
            yield _parse(line)


def iter_lines(read: Callable[[int], bytes]) -> Iterator[bytes | bytearray]:
    """Complete lines (without the newline); raises `TornStream` if the stream ends mid-line."""
    buf = bytearray()
    while True:
        data = read(READ_SIZE)
        if not data:
            break
        nl = data.find(b"\n")
        if nl < 0:
            buf += data
            continue
        if buf:
            buf += data[:nl]
            yield buf
            buf = bytearray()
        else:
            yield data[:nl]
        start = nl + 1
        while (nl := data.find(b"\n", start)) >= 0:
            yield data[start:nl]
            start = nl + 1
        buf += data[start:]
    if buf.strip():
        raise TornStream("torn", f"watch stream ended inside an event ({len(buf)} bytes without a newline)")


def _parse(line: bytes | bytearray) -> dict[str, Any]:
    try:
        event = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise TornStream("bad_json", f"watch stream line is not JSON ({len(line)} bytes)") from None
    if not isinstance(event, dict):
        raise TornStream("bad_json", f"watch stream line is a {type(event).__name__}, not an object")
    return event
