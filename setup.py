"""The build (metadata and options are in setup.cfg): the same pure-Python package, with the
modules in `COMPILED` compiled by mypyc into C extensions when a wheel is built where mypyc and
a C compiler are at hand (`pip install .`, `pip wheel .`, the Docker builder stage).

Why: the per-record path. Normalising every watched object is a third of the daemon's time per
record on the rules path (BENCHMARKS.md "Rules only"); with the rule index, the record views
and the timers compiled too, the bench goes from ~45,000 to ~54,000 events/s. mypyc is mypy's compiler for typed Python (mypy and black ship
compiled with it): each module stays the one source that is read, type-checked and tested,
with no C of our own, and only modules without state shared across the code are compiled.
`tests/test_compiled_build.py` runs the rules and normaliser tests on the compiled build, and
`tests/watcher/test_normalize_compiled.py` checks that the compiled normaliser reads every
object, good or hostile, exactly as the source does.

Pure Python instead, with the same behaviour:
- an editable install (`pip install -e .`): what a developer edits is what runs, never a stale build;
- `KEA_PURE_PYTHON=1` in the environment;
- no mypyc, or no working C compiler: the extensions are optional, the build goes on without them.
"""
import os
import sys

from setuptools import setup

COMPILED = ["watcher/normalize.py", "rules/index.py", "rules/views.py", "rules/deadlines.py"]
#: The setuptools commands that build what gets installed (not metadata, not an editable install).
_BUILDS = {"bdist_wheel", "build", "build_ext", "install", "bdist"}


def compiled_extensions() -> list:
    if os.environ.get("KEA_PURE_PYTHON") or not _BUILDS.intersection(sys.argv[1:]):
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        return []
    try:
        extensions = mypycify(COMPILED, opt_level="3")
    except (Exception, SystemExit) as exc:  # mypyc type-checks first: a newer mypy may disagree
        print(f"setup.py: not compiling {COMPILED} ({exc!r}); the pure-Python modules are installed",
              file=sys.stderr)
        return []
    for ext in extensions:
        ext.optional = True  # no compiler: a warning, and the pure-Python modules
    return extensions


if __name__ == "__main__":  # (how pip's build backend runs this file; tests import it)
    setup(ext_modules=compiled_extensions())
