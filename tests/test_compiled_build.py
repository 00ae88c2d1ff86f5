"""The unit tests pass on the compiled build.

A wheel carries the modules in setup.py's `COMPILED` compiled by mypyc; an editable install,
and so every other test, runs them as source. Here they are compiled as setup.py compiles
them, in a copy of the packages, and the rules and normaliser tests run on that copy in a
subprocess. Compiled classes are native (their attributes fixed, annotations checked when
called), so this is where a compiled module that behaves unlike its source would show.
Without mypyc or a C compiler the test is skipped, or failed under KEA_REQUIRE_REAL=1 (CI)."""
import importlib.util
import os
import shutil
import subprocess
import sys

import pytest

from tests.mypyc_build import REPO, build, compiled_modules, require_mypyc

#: The tests of the compiled modules and of everything that calls them.
UNIT_TESTS = ["tests/rules", "tests/watcher/test_normalize.py", "tests/watcher/test_properties.py"]
_WHERE = "import importlib, sys; print('\\n'.join(importlib.import_module(m).__file__ for m in sys.argv[1:]))"


@pytest.mark.slow
def test_the_unit_tests_pass_on_the_compiled_build(tmp_path):
    require_mypyc()
    tree = _copy_sources(tmp_path / "build")
    sources = compiled_modules()
    build(tree, sources)
    env = {**os.environ, "PYTHONPATH": str(tree)}
    modules = [s.removesuffix(".py").replace("/", ".") for s in sources]
    files = subprocess.run([sys.executable, "-c", _WHERE, *modules], cwd=tmp_path, env=env,
                           capture_output=True, text=True, check=True).stdout.split()
    assert len(files) == len(modules) and all(f.startswith(str(tree)) and not f.endswith(".py") for f in files), files
    # --import-mode=append: the checkout (pytest's rootdir) comes after the compiled copy.
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "--import-mode=append",
                           *[str(REPO / t) for t in UNIT_TESTS]],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout.splitlines()[-1], proc.stdout[-500:]


def _copy_sources(tree):
    """The packages and setup.cfg (the repository's mypy settings, which setup.py's build reads)."""
    for package in ("rules", "watcher", "notifiers"):
        shutil.copytree(REPO / package, tree / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(REPO / "setup.cfg", tree / "setup.cfg")
    return tree


def _setup_module():
    spec = importlib.util.spec_from_file_location("kea_setup", REPO / "setup.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("command", ["editable_wheel", "egg_info", "dist_info", "sdist"])
def test_an_editable_install_and_metadata_compile_nothing(monkeypatch, command):
    """An editable install runs the source a developer edits, never a build of it that may be stale."""
    monkeypatch.setattr(sys, "argv", ["setup.py", command, "--dist-dir", "x"])
    assert _setup_module().compiled_extensions() == []


def test_kea_pure_python_compiles_nothing(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["setup.py", "bdist_wheel"])
    monkeypatch.setenv("KEA_PURE_PYTHON", "1")
    assert _setup_module().compiled_extensions() == []


@pytest.mark.slow
def test_a_wheel_build_compiles_the_listed_modules_as_optional_extensions(monkeypatch, tmp_path):
    require_mypyc()
    monkeypatch.setattr(sys, "argv", ["setup.py", "bdist_wheel"])
    monkeypatch.delenv("KEA_PURE_PYTHON", raising=False)
    _copy_sources(tmp_path)
    monkeypatch.chdir(tmp_path)  # mypyc reads setup.cfg and writes its C under build/ here, as pip's build does
    extensions = _setup_module().compiled_extensions()
    names = {ext.name for ext in extensions}
    assert {s.removesuffix(".py").replace("/", ".") for s in compiled_modules()} <= names
    assert all(ext.optional for ext in extensions), "no compiler must mean the pure modules, not a failed install"
