"""The layering and purity claims of the README as checks: import-linter's contracts in setup.cfg
(watcher above notifiers above rules; rules import no Kubernetes/HTTP/ES/template library;
notifiers see only rules.alert; watcher.kube and watcher.es independent)."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_import_contracts_hold():
    tool = shutil.which("lint-imports")
    if tool is None:
        if os.environ.get("KEA_REQUIRE_REAL"):
            pytest.fail("lint-imports (import-linter) is not installed")
        pytest.skip("import-linter not installed (pip install -e '.[test]')")
    out = subprocess.run([tool, "--config", str(REPO / "setup.cfg")], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout
