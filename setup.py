"""The build (metadata and options are in setup.cfg): the same pure-Python package, with
`watcher/normalize.py` compiled by mypyc into a C extension when a wheel is built where mypyc
and a C compiler are at hand (`pip install .`, `pip wheel .`, the Docker builder stage).

Why: normalising every watched object is a third of the daemon's time per record on the rules
path (BENCHMARKS.md "Rules only"), and compiled it is ~1.5× faster. mypyc is mypy's compiler
for typed Python (mypy and black ship compiled with it): the module stays the one source that
is read, type-checked and tested, with no C of our own. `tests/watcher/test_normalize_compiled.py`
checks that the compiled module reads every object, good or hostile, exactly as the source does.

Pure Python instead, with the same behaviour:
- an editable install (`pip install -e .`): what a developer edits is what runs, never a stale build;
- `KEA_PURE_PYTHON=1` in the environment;
- no mypyc, or no working C compiler: the extension is optional, the build goes on without it.
"""
import os
import sys

from setuptools import setup

COMPILED = ["watcher/normalize.py"]
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
        print(f"setup.py: not compiling {COMPILED} ({exc!r}); the pure-Python module is installed",
              file=sys.stderr)
        return []
    for ext in extensions:
        ext.optional = True  # no compiler: a warning, and the pure-Python module
    return extensions


setup(ext_modules=compiled_extensions())
