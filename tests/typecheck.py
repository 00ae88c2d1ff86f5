"""mypy run as the type tests run it (tests/test_types.py, tests/watcher/test_watcher_types.py):
this interpreter's mypy, the repo's setup.cfg, from the repo root, one error per line with its
code. Without mypy the test is skipped, or failed when KEA_REQUIRE_REAL is set (CI)."""
import os
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def mypy(*targets: str) -> subprocess.CompletedProcess:
    if find_spec("mypy") is None:
        if os.environ.get("KEA_REQUIRE_REAL"):
            pytest.fail("mypy is not installed")
        pytest.skip("mypy not installed (pip install -e '.[test]')")
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(REPO / "setup.cfg"), "--no-error-summary",
         "--show-error-codes", *targets],
        cwd=REPO, capture_output=True, text=True,
    )
