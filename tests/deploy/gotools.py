"""helm and promtool for the deploy tests, built from the Go module proxy by tools/build-helm.sh
and tools/build-promtool.sh (wrapper modules tools/helm, tools/promtool pin the versions).

`tool("helm")` returns the binary: it runs the build script when Go is there (idempotent: a
binary of the pinned version returns at once), else uses one already built. When neither
works the test is skipped with the reason, or failed with KEA_REQUIRE_REAL=1 (CI), as
tests/harness/kube.py does for the apiserver."""
from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.manifests import REPO

SCRIPTS = {"helm": REPO / "tools" / "build-helm.sh", "promtool": REPO / "tools" / "build-promtool.sh"}


class ToolMissing(RuntimeError):
    """The tool is not built and cannot be built here."""


def _pinned(gomod: Path, module: str) -> str:
    m = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", gomod.read_text(), re.M)
    if not m:
        raise ToolMissing(f"{module} not pinned in {gomod}")
    return m.group(1)


def built_path(name: str) -> Path:
    """Where the build script puts the pinned binary (KEA_CACHE_DIR replaces <repo>/.cache)."""
    cache = Path(os.environ.get("KEA_CACHE_DIR") or REPO / ".cache")
    if name == "helm":
        version = _pinned(REPO / "tools/helm/go.mod", "helm.sh/helm/v3")
    else:  # Prometheus 3.MM.P is the Go module version v0.3MM.P
        m = re.fullmatch(r"v0\.(\d)(\d\d)\.(\d+)", _pinned(REPO / "tools/promtool/go.mod", "github.com/prometheus/prometheus"))
        if not m:
            raise ToolMissing("tools/promtool/go.mod: the prometheus version is not v0.3MM.P")
        version = f"v{m.group(1)}.{int(m.group(2))}.{m.group(3)}"
    return cache / name / version / "bin" / name


@functools.lru_cache(maxsize=None)
def _build(name: str) -> Path:
    script = SCRIPTS[name]
    if shutil.which("go") is None:
        if os.access(built_path(name), os.X_OK):
            return built_path(name)
        raise ToolMissing(f"not built ({built_path(name)}) and no `go` in PATH to run {script.relative_to(REPO)}")
    # The script's last stdout line is the bin dir.
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise ToolMissing(f"{script.relative_to(REPO)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    binary = Path(proc.stdout.strip().splitlines()[-1]) / name
    if not os.access(binary, os.X_OK):
        raise ToolMissing(f"{script.relative_to(REPO)} printed {binary.parent}, which has no {name}")
    return binary


def tool(name: str) -> Path:
    """The pinned `name` binary, or skip (fail under KEA_REQUIRE_REAL=1) saying why not."""
    try:
        return _build(name)
    except ToolMissing as exc:
        if os.environ.get("KEA_REQUIRE_REAL") == "1":
            pytest.fail(f"{name} is required (KEA_REQUIRE_REAL=1): {exc}")
        pytest.skip(f"{name} not available: {exc}")
