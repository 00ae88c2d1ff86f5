"""The compiled normaliser reads every object exactly as its source does.

A wheel (`pip install .`, the Docker image) carries `watcher/normalize.py` compiled by mypyc
(setup.py says why); an editable install, and so every other test, runs the source. Here the
same source file is compiled under another module name, the way setup.py compiles it, and both
are given the bundled recordings and random, damaged and arbitrary objects: each must give the
same Record, or the same MalformedObject (reason and message), never another exception.
Compiled code checks its annotations at run time, so a parameter typed narrower than what the
wire can carry would surface here as a TypeError. Without mypyc or a C compiler the test is
skipped, or failed under KEA_REQUIRE_REAL=1 (CI); tests/test_compiled_build.py runs the
unit tests on the whole compiled set."""
from __future__ import annotations

import importlib
import json
import shutil
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import watcher.normalize as source
from tests.mypyc_build import REPO, build, require_mypyc
from tests.watcher.k8s_objects import any_timestamp, damage, json_values, objects

COMPILED_NAME = "kea_compiled_normalize"


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    require_mypyc()
    where = tmp_path_factory.mktemp("mypyc")
    shutil.copy2(REPO / "watcher" / "normalize.py", where / f"{COMPILED_NAME}.py")
    build(where, [f"{COMPILED_NAME}.py"])
    sys.path.insert(0, str(where))
    try:
        module = importlib.import_module(COMPILED_NAME)
    finally:
        sys.path.remove(str(where))
    assert not module.__file__.endswith(".py"), f"{module.__file__}: not the compiled module"
    return module


def _outcome(module, *args, **kwargs) -> tuple:
    """What one normaliser makes of an object: its record, or its MalformedObject."""
    try:
        return ("record", repr(module.normalize(*args, **kwargs)))
    except module.MalformedObject as exc:
        return ("malformed", exc.reason, str(exc))


def _same(compiled, *args, **kwargs) -> None:
    assert _outcome(compiled, *args, **kwargs) == _outcome(source, *args, **kwargs), (args, kwargs)


def test_the_bundled_recordings_read_the_same(compiled):
    lines = [line for path in sorted((REPO / "examples" / "recordings").rglob("*.jsonl"))
             for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    items = [json.loads(line) for line in lines]
    watched = [i for i in items if isinstance(i, dict) and "object" in i]
    assert len(watched) >= 50, "the recordings hold the objects to compare"
    for item in watched:
        _same(compiled, item.get("type"), item["object"], cluster="c")
        _same(compiled, "ADDED", item["object"], cluster="c", listed=True)


watch_types = st.one_of(st.sampled_from(["ADDED", "MODIFIED", "DELETED"]),
                        st.sampled_from([None, 1, "BOOKMARK", "ERROR", "added", b"ADDED", ["ADDED"]]))
kinds = st.sampled_from([None, "Pod", "Event", "EndpointSlice", "Endpoints", "Node", 7])


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.data(), objects, watch_types, kinds, st.booleans())
def test_random_and_damaged_objects_read_the_same(compiled, data, obj, watch_type, kind, listed):
    for _ in range(data.draw(st.integers(0, 3))):
        obj = damage(obj, data)
    _same(compiled, watch_type, obj, cluster="c", kind=kind or obj.get("kind"), listed=listed)


@settings(max_examples=300, deadline=None)
@given(json_values, watch_types)
def test_arbitrary_json_reads_the_same(compiled, value, watch_type):
    _same(compiled, watch_type, value, cluster="c")


@settings(max_examples=200, deadline=None)
@given(st.one_of(any_timestamp, json_values))
def test_timestamps_parse_the_same(compiled, value):
    def parsed(module):
        try:
            return ("time", repr(module.parse_time(value)))
        except module.MalformedObject as exc:
            return ("malformed", exc.reason, str(exc))
    assert parsed(compiled) == parsed(source)
