"""tools/lint-deploy.sh: hadolint + checkov are clean on the repository (the Dockerfile, the
Kustomize base, the Helm chart rendered with each value set), and a finding fails.

The tools come from `tools/lint-deploy.sh --install` (CI runs it) and tools/build-helm.sh. Without
them these tests are skipped, or failed when KEA_REQUIRE_REAL=1 (as in CI)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from tests.deploy.manifests import REPO

SCRIPT = REPO / "tools" / "lint-deploy.sh"
NOT_INSTALLED = 3


def _lint(*args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=600)
    if proc.returncode == NOT_INSTALLED:
        msg = f"hadolint/checkov/helm not installed ({proc.stderr.strip()})"
        if os.environ.get("KEA_REQUIRE_REAL") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return proc


def test_repository_is_lint_clean():
    proc = _lint()
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "hadolint: no findings" in out
    for kind in ("kubernetes", "dockerfile"):
        m = re.search(rf"checkov {kind}: (\d+) passed, (\d+) failed, (\d+) skipped, (\d+) resources, 0 parsing errors", out)
        assert m, out
        assert int(m.group(1)) > 0 and m.group(2) == "0", out
    assert "NO REASON GIVEN" not in out
    for values in ("defaults", "es-existing-secret", "secret-values", "monitoring"):
        assert f"in the chart, values {values} (rendered)" in out, f"chart not checked with {values}"
    assert "lint-deploy: OK" in out


@pytest.fixture
def copy_root(tmp_path):
    """Dockerfile, .hadolint.yaml, deploy/ (without others' folders) and the chart in a scratch root."""
    root = tmp_path / "root"
    (root / "deploy").mkdir(parents=True)
    shutil.copy2(REPO / "Dockerfile", root / "Dockerfile")
    shutil.copy2(REPO / ".hadolint.yaml", root / ".hadolint.yaml")
    shutil.copytree(REPO / "deploy" / "base", root / "deploy" / "base")
    for f in (REPO / "deploy").glob("*.yaml"):
        shutil.copy2(f, root / "deploy" / f.name)
    shutil.copytree(REPO / "charts", root / "charts")
    return root


def test_a_finding_in_either_file_fails(copy_root):
    dockerfile = copy_root / "Dockerfile"
    # DL3003: `cd` in RUN instead of WORKDIR.
    dockerfile.write_text(dockerfile.read_text().replace("WORKDIR /src\n", "WORKDIR /src\nRUN cd /src && true\n"))
    deployment = copy_root / "deploy" / "base" / "deployment.yaml"
    text = deployment.read_text()
    assert "privileged: false" in text
    deployment.write_text(text.replace("privileged: false", "privileged: true"))
    proc = _lint(str(copy_root))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "DL3003" in out, "hadolint finding reported"
    assert "FAILED CKV_K8S_16" in out, "checkov finding reported"


def test_a_skip_without_a_reason_fails(copy_root):
    deployment = copy_root / "deploy" / "base" / "deployment.yaml"
    text = deployment.read_text()
    # Drop the reason of one annotated skip: the skip itself stays.
    new = re.sub(r"(checkov\.io/skip3: CKV_K8S_38)=.*", r"\1", text)
    assert new != text
    deployment.write_text(new)
    proc = _lint(str(copy_root))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "CKV_K8S_38" in out


def test_a_finding_in_the_chart_fails(copy_root):
    """The chart is checked as rendered: a value set that breaks a check fails the run."""
    values = copy_root / "charts" / "kube-event-alerter" / "ci" / "loose-values.yaml"
    values.write_text("securityContext:\n  privileged: true\n  allowPrivilegeEscalation: true\n"
                      "  readOnlyRootFilesystem: true\n  capabilities: {drop: [ALL]}\n")
    proc = _lint(str(copy_root))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "FAILED CKV_K8S_16" in out and "the chart, values loose (rendered)" in out, out
