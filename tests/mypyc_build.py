"""mypyc builds as setup.py makes them, for the tests of the compiled modules
(tests/test_compiled_build.py, tests/watcher/test_normalize_compiled.py). Without mypyc or a C
compiler the test is skipped, or failed when KEA_REQUIRE_REAL is set (CI)."""
import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.harness import unavailable

REPO = Path(__file__).resolve().parents[1]


def compiled_modules() -> list[str]:
    """setup.py's `COMPILED`: the source files a wheel carries compiled."""
    tree = ast.parse((REPO / "setup.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "COMPILED" for t in node.targets):
            return list(ast.literal_eval(node.value))
    raise AssertionError("setup.py has no COMPILED list")


def require_mypyc() -> None:
    try:
        import mypyc.build  # noqa: F401
    except ImportError:
        unavailable("the compiled modules cannot be built: mypyc is not installed (pip install mypy)")
    if not has_c_compiler():
        unavailable("the compiled modules cannot be built: no C compiler (cc) on PATH")


def has_c_compiler() -> bool:
    return bool(shutil.which("cc") or shutil.which("gcc"))


def build(where: Path, sources: list[str]) -> None:
    """Compile `sources` (paths relative to `where`) in place, with the repository's mypy
    settings, as setup.py does: each becomes an extension module beside its source."""
    script = ("import sys; from setuptools import setup; from mypyc.build import mypycify; "
              "setup(ext_modules=mypycify(sys.argv[3:], opt_level='3'), script_args=sys.argv[1:3])")
    proc = subprocess.run([sys.executable, "-c", script, "build_ext", "--inplace", *sources], cwd=where,
                          env={**os.environ, "MYPYPATH": str(REPO)}, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
