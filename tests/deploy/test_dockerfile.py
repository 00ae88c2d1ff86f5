"""The Dockerfile, read as text (no Docker engine here): what the final image runs, as whom,
where it may write, and that the build context (.dockerignore) holds what the wheel needs."""
from __future__ import annotations

import configparser
import fnmatch
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.deploy.manifests import REPO, BASE, containers, one, parse_dockerfile, parse_env, render_fallback
from tests.mypyc_build import compiled_modules, has_c_compiler
from watcher.config import Config

DOCKERFILE = REPO / "Dockerfile"


@pytest.fixture(scope="module")
def stages():
    _, stages = parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))
    return stages


@pytest.fixture(scope="module")
def final(stages):
    return stages[-1]


@pytest.fixture(scope="module")
def setup_cfg():
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg", encoding="utf-8")
    return cfg


@pytest.fixture(scope="module")
def deployment():
    return one(render_fallback(BASE), "Deployment")


def test_multi_stage_build_wheel_then_install(stages, final):
    assert len(stages) >= 2, "expected a builder stage and a runtime stage"
    builder = stages[0]
    assert builder.name, "the builder stage needs a name for the runtime stage to refer to"
    builds = [r.args for r in builder.all("RUN")]
    assert any(re.search(r"\bpip wheel\b.*\s\.(\s|$)", a) for a in builds), builds
    # The runtime stage gets wheels from the builder, never the source tree.
    assert not final.all("COPY") or all(c.flags.get("from") == builder.name for c in final.all("COPY"))
    installs = [r for r in final.all("RUN") if "pip install" in r.args]
    assert installs, "the runtime stage installs the wheel"
    assert any(f"from={builder.name}" in r.flags.get("mount", "") or "--find-links" in r.args for r in installs)
    assert all("--no-index" in r.args for r in installs), "install from the built wheels only"


def test_both_stages_use_the_same_slim_python_311_base(stages):
    bases = {s.base for s in stages}
    assert len(bases) == 1, f"wheels built on one base must be installed on the same one: {bases}"
    (base,) = bases
    assert re.match(r"(docker\.io/(library/)?)?python:3\.11[.\d]*-slim", base), base


def test_final_user_is_numeric_and_not_root(final, deployment):
    user = final.last("USER")
    assert user is not None, "the image must not run as root by default"
    uid, _, gid = user.args.partition(":")
    assert uid.isdigit() and int(uid) != 0, f"USER {user.args}: numeric, non-zero (runAsNonRoot needs a number)"
    assert not gid or (gid.isdigit() and int(gid) != 0)
    # Nothing runs as root after the switch, and the manifests run as the same user.
    assert not [i for i in final.instructions if i.keyword == "RUN" and i.line > user.line]
    pod_ctx = deployment["spec"]["template"]["spec"]["securityContext"]
    assert pod_ctx["runAsUser"] == int(uid)
    if gid:
        assert pod_ctx["runAsGroup"] == int(gid)


def test_entrypoint_is_the_console_script(final, setup_cfg):
    entry = final.last("ENTRYPOINT")
    assert entry is not None and entry.exec_form() == ["kube-event-alerter"], \
        "exec form, so the daemon is PID 1 and gets SIGTERM"
    scripts = setup_cfg["options.entry_points"]["console_scripts"]
    assert re.search(r"^\s*kube-event-alerter\s*=", scripts, re.M), scripts


def test_cmd_runs_the_daemon_with_the_mounted_config(final, deployment):
    cmd = final.last("CMD")
    assert cmd is not None and cmd.exec_form() == ["run", "-c", "/etc/kube-event-alerter/config.yaml"]
    (container,) = containers(deployment)
    assert container.get("args", cmd.exec_form()) == cmd.exec_form()
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert cmd.exec_form()[-1] in mounts, "the config path of CMD is where the ConfigMap is mounted"


def test_exposes_the_metrics_port(final):
    ports = {p.split("/")[0] for e in final.all("EXPOSE") for p in e.args.split()}
    assert Config().metrics.port == 9102, "the default metrics port moved: update EXPOSE and deploy/"
    assert "9102" in ports, f"EXPOSE {ports}"


def test_data_dir_is_a_volume_and_the_only_writable_path(final):
    volumes = set()
    for v in final.all("VOLUME"):
        volumes.update(v.exec_form() or v.args.split())
    assert Config().data_dir in volumes, f"VOLUME {volumes} must include data_dir {Config().data_dir}"
    user = final.last("USER").args.split(":")[0]
    setup = " ".join(r.args for r in final.all("RUN"))
    assert re.search(rf"install -d -o {user} -g \d+ -m 07[05]0 {re.escape(Config().data_dir)}", setup), \
        "the data dir is created owned by the runtime user"


def test_runtime_env_writes_no_bytecode(final):
    env: dict[str, str] = {}
    for e in final.all("ENV"):
        env.update(parse_env(e.args))
    assert env.get("PYTHONDONTWRITEBYTECODE") == "1", "no .pyc writes on a read-only root filesystem"
    assert env.get("PYTHONUNBUFFERED") == "1", "logs reach kubectl logs at once"


def test_no_healthcheck_the_probes_do_it(stages):
    assert not any(s.all("HEALTHCHECK") for s in stages)


def test_oci_labels_and_version_match_setup_cfg(final, setup_cfg):
    labels = " ".join(lbl.args for lbl in final.all("LABEL"))
    for key in ("title", "description", "version", "revision", "created", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels, key
    assert f'org.opencontainers.image.licenses="{setup_cfg["metadata"]["license"]}"' in labels
    assert 'org.opencontainers.image.version="${VERSION}"' in labels
    version = [a.args for a in final.all("ARG") if a.args.startswith("VERSION=")]
    assert version == [f"VERSION={setup_cfg['metadata']['version']}"], \
        "ARG VERSION must equal setup.cfg's version (the runtime stage installs exactly that wheel)"


def test_builder_copies_every_package(stages, setup_cfg):
    include = setup_cfg["options.packages.find"]["include"].split()
    packages = {p for p in include if "." not in p and "*" not in p}
    copied = {c.args.split()[0].rstrip("/") for c in stages[0].all("COPY")}
    assert packages <= copied, f"packages not copied into the builder: {packages - copied}"
    assert {"pyproject.toml", "setup.py", "setup.cfg", "README.md"} <= {w for c in stages[0].all("COPY") for w in c.args.split()}


# ----------------------------------------------------------------------- the build context


def _dockerignore_patterns() -> list[tuple[bool, str]]:
    out = []
    for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        neg = line.startswith("!")
        pat = os.path.normpath(line[1:] if neg else line).lstrip("/")
        out.append((neg, pat))
    return out


def _regex(pattern: str) -> re.Pattern:
    """Docker's pattern syntax: `**` any number of directories, `*` and `?` within one."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


def _excluded(rel: str, patterns) -> bool:
    """moby's MatchesOrParentMatches: the last pattern matching the path or a parent wins."""
    parts = rel.split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    excluded = False
    for neg, pat in patterns:
        rx = _regex(pat)
        if any(rx.match(p) for p in prefixes):
            excluded = not neg
    return excluded


def build_context(root: Path = REPO) -> set[str]:
    """The files `docker build .` sends, as paths relative to the repository."""
    patterns = _dockerignore_patterns()
    negated_roots = {p.split("/")[0] for neg, p in patterns if neg}
    files = set()
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        # Prune excluded directories no `!` pattern reaches into (Docker skips them too).
        dirnames[:] = [d for d in dirnames if not (_excluded(rel_dir + d, patterns)
                                                   and (rel_dir + d).split("/")[0] not in negated_roots)]
        files.update(rel_dir + f for f in filenames if not _excluded(rel_dir + f, patterns))
    return files


def test_build_context_holds_the_sources_and_nothing_else(setup_cfg):
    context = build_context()
    include = setup_cfg["options.packages.find"]["include"].split()
    missing = [p for p in include if "*" not in p and f"{p.replace('.', '/')}/__init__.py" not in context]
    assert not missing, f"packages .dockerignore leaves out of the build context: {missing}"
    tracked = subprocess.run(["git", "ls-files", "rules", "notifiers", "watcher"], cwd=REPO,
                             capture_output=True, text=True, check=True).stdout.split()
    needed = {"pyproject.toml", "setup.py", "setup.cfg", "README.md"} | {
        f for f in tracked if f.endswith((".py", ".yaml", ".j2"))}
    assert needed <= context, f"missing from the build context: {sorted(needed - context)[:10]}"
    assert not [f for f in context if f.startswith((".git/", ".cache/", "tests/", "tools/", "deploy/", "bench/"))]
    assert not [f for f in context if "__pycache__" in f or f.endswith(".pyc")]
    assert {f.split("/")[0] for f in context} <= {"pyproject.toml", "setup.py", "setup.cfg", "README.md",
                                                  "rules", "notifiers", "watcher"}


def test_dockerignore_matcher_semantics():
    pats = [(False, "*"), (True, "rules"), (False, "**/__pycache__")]
    assert _excluded("tests/x.py", pats) and not _excluded("rules/a.py", pats)
    assert _excluded("rules/__pycache__/a.pyc", pats) and _excluded(".cache/kube/bin", pats)


@pytest.mark.slow
def test_wheel_built_from_the_context_carries_data_files_and_the_script(tmp_path):
    """What the builder stage does, on a copy of exactly the build context."""
    ctx = tmp_path / "ctx"
    for rel in build_context():
        (ctx / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, ctx / rel)
    try:
        import setuptools  # noqa: F401
        import wheel  # noqa: F401
        isolation = ["--no-build-isolation"]
    except ImportError:
        isolation = []
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-q",
                           "--wheel-dir", str(tmp_path / "wheels"), str(ctx)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (whl,) = (tmp_path / "wheels").glob("kube_event_alerter-*.whl")
    names = zipfile.ZipFile(whl).namelist()
    for src in (REPO / "rules" / "builtin").glob("*.yaml"):
        assert f"rules/builtin/{src.name}" in names
    templates = [n for n in names if fnmatch.fnmatch(n, "notifiers/templates/*/*.j2")]
    assert templates, "notifier templates missing from the wheel"
    entry = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "kube-event-alerter = watcher.cli:main" in zipfile.ZipFile(whl).read(entry).decode()
    # setup.py compiles its COMPILED modules with mypyc where a C compiler is (the builder stage has one).
    if has_c_compiler():
        for source in compiled_modules():
            stem = source.removesuffix(".py")
            assert [n for n in names if fnmatch.fnmatch(n, f"{stem}.*.so")], \
                f"{source} not compiled into the wheel: {proc.stderr[-2000:]}"
            assert source in names, "the source ships beside its extension"
    elif os.environ.get("KEA_REQUIRE_REAL") == "1":
        pytest.fail("no C compiler here: the wheel's compiled normaliser is not tested")
