"""The watch-line parser: torn lines, many lines per read, blank keep-alives, a cut stream."""
import json

import pytest

from watcher.kube.stream import TornStream, iter_events


def reader(*chunks: bytes):
    parts = list(chunks)
    return lambda n: parts.pop(0) if parts else b""


def ev(rv: int) -> bytes:
    return json.dumps({"type": "MODIFIED", "object": {"metadata": {"resourceVersion": str(rv)}}}).encode()


def rvs(events) -> list[str]:
    return [e["object"]["metadata"]["resourceVersion"] for e in events]


def test_lines_torn_across_reads_are_joined():
    a, b, c = ev(1), ev(2), ev(3)
    chunks = (a[:5], a[5:11], a[11:] + b"\n" + b[:3], b[3:] + b"\n" + c + b"\n")
    assert rvs(iter_events(reader(*chunks))) == ["1", "2", "3"]


def test_one_byte_reads():
    data = ev(1) + b"\n" + ev(2) + b"\n"
    assert rvs(iter_events(reader(*(data[i:i + 1] for i in range(len(data)))))) == ["1", "2"]


def test_blank_lines_are_skipped():
    assert rvs(iter_events(reader(b"\n", ev(7) + b"\n\r\n", b"\n"))) == ["7"]


def test_a_stream_cut_inside_a_line_raises_after_the_complete_events():
    got = []
    with pytest.raises(TornStream) as err:
        for e in iter_events(reader(ev(1) + b"\n" + ev(2)[:10])):
            got.append(e)
    assert rvs(got) == ["1"] and err.value.reason == "torn"


def test_a_line_that_is_not_a_json_object_raises():
    with pytest.raises(TornStream) as err:
        list(iter_events(reader(b"[1, 2]\n")))
    assert err.value.reason == "bad_json"
    with pytest.raises(TornStream):
        list(iter_events(reader(b"{nope\n")))
