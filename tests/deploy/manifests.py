"""Reading the deploy/ manifests and the Dockerfile, for the tests and tools/lint-deploy.sh.

``render(base)`` is what ``kubectl apply -k`` would send: the output of ``kustomize build`` (or
``kubectl kustomize``) when one is installed, else ``render_fallback``, which understands the
part of Kustomize the base uses (``resources`` files, ``namespace``, ``images``) and refuses
anything else rather than rendering it wrongly.

Run as a script (needs only PyYAML), it prints the rendered base, for lint-deploy.sh on a machine
without kustomize/kubectl:  python tests/deploy/manifests.py render deploy/base
"""
from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import yaml

REPO = Path(__file__).resolve().parents[2]
BASE = REPO / "deploy" / "base"

# Kinds of the base that are not namespaced (the fallback sets no namespace on them).
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
                  "PriorityClass", "StorageClass", "ValidatingWebhookConfiguration",
                  "MutatingWebhookConfiguration", "PersistentVolume"}
KNOWN_FIELDS = {"apiVersion", "kind", "namespace", "resources", "images"}


# ------------------------------------------------------------------------------ Kubernetes YAML


def load_yaml_docs(path: Path) -> list[dict]:
    """The non-empty YAML documents of a file."""
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d]


def kustomize_command() -> list[str] | None:
    """How to run Kustomize here: the kustomize binary, else kubectl's built-in one."""
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    return None


def render_kustomize(base: Path = BASE) -> list[dict]:
    cmd = kustomize_command()
    if cmd is None:
        raise FileNotFoundError("neither kustomize nor kubectl is installed")
    proc = subprocess.run([*cmd, str(base)], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} {base} failed:\n{proc.stderr}")
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def render_fallback(base: Path = BASE) -> list[dict]:
    """Concatenate the kustomization's resources, applying `namespace` and `images` the way
    Kustomize does for the objects the base holds."""
    kfile = base / "kustomization.yaml"
    kust = yaml.safe_load(kfile.read_text(encoding="utf-8"))
    unknown = set(kust) - KNOWN_FIELDS
    if unknown:
        raise ValueError(f"{kfile}: the fallback renderer does not implement {sorted(unknown)}; "
                         "install kustomize or kubectl")
    namespace = kust.get("namespace")
    docs: list[dict] = []
    for res in kust.get("resources", []):
        path = base / res
        if not path.is_file():
            raise ValueError(f"{kfile}: resource {res!r} is not a file (the fallback reads only files)")
        docs.extend(load_yaml_docs(path))
    for doc in docs:
        kind, meta = doc["kind"], doc.setdefault("metadata", {})
        if namespace and kind not in CLUSTER_SCOPED:
            meta["namespace"] = namespace
        if namespace and kind in ("RoleBinding", "ClusterRoleBinding"):
            for s in doc.get("subjects", []):
                if s.get("kind") == "ServiceAccount":
                    s["namespace"] = namespace
        for c in containers(doc):
            c["image"] = _image(c["image"], kust.get("images", []))
    return docs


def _image(ref: str, images: list[dict]) -> str:
    """Kustomize's `images` transformer for one image reference."""
    if "@" in ref:
        name, suffix = ref.split("@", 1)
        suffix = "@" + suffix
    elif ":" in ref.rsplit("/", 1)[-1]:
        name, tag = ref.rsplit(":", 1)
        suffix = ":" + tag
    else:
        name, suffix = ref, ""
    for img in images:
        if img.get("name") == name:
            if "digest" in img:
                suffix = "@" + img["digest"]
            elif "newTag" in img:
                suffix = ":" + str(img["newTag"])
            return img.get("newName", name) + suffix
    return ref


def render(base: Path = BASE) -> list[dict]:
    """The base as Kustomize renders it (the real thing when installed)."""
    if kustomize_command():
        return render_kustomize(base)
    return render_fallback(base)


def pod_spec(doc: dict) -> dict | None:
    spec = doc.get("spec") or {}
    if doc.get("kind") == "Pod":
        return spec
    if doc.get("kind") in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        return spec.get("template", {}).get("spec")
    if doc.get("kind") == "CronJob":
        return spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec")
    return None


def containers(doc: dict) -> Iterator[dict]:
    spec = pod_spec(doc)
    if spec:
        yield from spec.get("initContainers", []) or []
        yield from spec.get("containers", []) or []


def by_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d.get("kind") == kind]


def one(docs: list[dict], kind: str, name: str | None = None) -> dict:
    found = [d for d in by_kind(docs, kind) if name is None or d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}{' ' + name if name else ''}, found {len(found)}"
    return found[0]


# ------------------------------------------------------------------------------ the real apiserver


class ApiObjects:
    """Rendered objects created in the test apiserver (tests/harness/kube.py), the way a first
    `kubectl apply` creates them: strict field validation, a field manager. Leaving the ``with``
    deletes the cluster-scoped ones it created (ClusterRole/Binding): the test's namespace takes
    its own contents with it, those would outlive it. ``created`` maps (kind, name) to what the
    apiserver returned."""

    def __init__(self, api):
        self.api = api
        self.created: dict[tuple[str, str], dict] = {}
        self._resources: dict[str, tuple[str, dict]] = {}
        self._cluster_scoped: list[str] = []

    def create(self, doc: dict, *, dry_run: bool = False) -> dict:
        from tests.harness.kube import request  # not at the top: the script needs only PyYAML

        path, namespaced = self._collection(doc)
        query = {"fieldValidation": "Strict", "fieldManager": "kea-tests", **({"dryRun": "All"} if dry_run else {})}
        obj = request(self.api, "POST", path, doc, query=query)
        self.created[(doc["kind"], doc["metadata"]["name"])] = obj
        if not namespaced and not dry_run:
            self._cluster_scoped.append(f"{path}/{doc['metadata']['name']}")
        return obj

    def _collection(self, doc: dict) -> tuple[str, bool]:
        """The collection URL of the object's kind (from the apiserver's discovery), and whether
        the kind is namespaced."""
        from tests.harness.kube import request

        gv = doc["apiVersion"]
        if gv not in self._resources:
            prefix = "/api/v1" if gv == "v1" else f"/apis/{gv}"
            kinds = {r["kind"]: r for r in request(self.api, "GET", prefix)["resources"] if "/" not in r["name"]}
            self._resources[gv] = (prefix, kinds)
        prefix, kinds = self._resources[gv]
        res = kinds[doc["kind"]]
        if res["namespaced"]:
            return f"{prefix}/namespaces/{doc['metadata'].get('namespace')}/{res['name']}", True
        return f"{prefix}/{res['name']}", False

    def __enter__(self) -> "ApiObjects":
        return self

    def __exit__(self, *exc) -> None:
        from kubernetes.client import ApiException

        from tests.harness.kube import request

        for path in self._cluster_scoped:
            try:
                request(self.api, "DELETE", path)
            except ApiException:
                pass


def enforce_restricted(api, ns: str) -> None:
    """Label ``ns`` so Pod Security admission enforces the "restricted" profile."""
    from tests.harness.kube import request

    request(api, "PATCH", f"/api/v1/namespaces/{ns}",
            {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted",
                                     "pod-security.kubernetes.io/enforce-version": "latest"}}},
            content_type="application/merge-patch+json")


def assert_pod_admitted_restricted(api, ns: str, deployment: dict) -> None:
    """A pod of ``deployment``'s template is admitted (dry-run) in ``ns`` under
    ``enforce_restricted``; control: the same pod allowed to escalate privileges is refused, so
    the admission really ran."""
    import copy
    import secrets

    import pytest
    from kubernetes.client import ApiException

    from tests.harness.kube import request

    template = deployment["spec"]["template"]
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": f"kea-{secrets.token_hex(3)}", "namespace": ns,
                        "labels": template["metadata"]["labels"]},
           "spec": copy.deepcopy(template["spec"])}
    request(api, "POST", f"/api/v1/namespaces/{ns}/pods", pod, query={"dryRun": "All", "fieldValidation": "Strict"})
    loose = copy.deepcopy(pod)
    loose["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
    with pytest.raises(ApiException) as e:
        request(api, "POST", f"/api/v1/namespaces/{ns}/pods", loose, query={"dryRun": "All"})
    assert e.value.status == 403 and "PodSecurity" in (e.value.body or "")


# ------------------------------------------------------------------------------ Dockerfile


@dataclass
class Instruction:
    keyword: str      # upper case: FROM, RUN, USER, ...
    args: str         # the text after the keyword, continuation lines joined
    line: int         # 1-based line of the keyword
    flags: dict[str, str] = field(default_factory=dict)  # --from=..., --mount=..., ...

    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form ENTRYPOINT/CMD/VOLUME, or None for shell form."""
        if self.args.startswith("["):
            value = json.loads(self.args)
            assert isinstance(value, list) and all(isinstance(v, str) for v in value), self.args
            return value
        return None


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction]

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None


_FLAG = re.compile(r"--([a-z-]+)=(\S+)\s+")


def parse_dockerfile(text: str) -> tuple[list[Instruction], list[Stage]]:
    """Instructions (global ARGs included) and the build stages, following the Dockerfile
    rules the file uses: `#` comment lines (also inside a continued instruction), `\\` line
    continuations, `--flag=value` options, and exec (JSON) or shell forms."""
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # a comment line inside a continued instruction is dropped
        if not pending:
            start = n
        if line.endswith("\\"):
            pending.append(line[:-1].strip())
            continue
        pending.append(line)
        full = " ".join(p for p in pending if p)
        pending = []
        keyword, _, args = full.partition(" ")
        args = args.strip()
        flags: dict[str, str] = {}
        while (m := _FLAG.match(args + " ")) and args.startswith("--"):
            flags[m.group(1)] = m.group(2)
            args = args[m.end():].strip()
        instructions.append(Instruction(keyword.upper(), args, start, flags))
    if pending:
        raise ValueError("Dockerfile ends inside a continued instruction")
    stages: list[Stage] = []
    for ins in instructions:
        if ins.keyword == "FROM":
            words = ins.args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name, []))
        elif stages:
            stages[-1].instructions.append(ins)
    return instructions, stages


def parse_env(args: str) -> dict[str, str]:
    """`ENV a=1 b="x y"` (the key=value form) as a dict."""
    out = {}
    for word in shlex.split(args):
        key, eq, value = word.partition("=")
        if not eq:
            raise ValueError(f"ENV {args!r}: use the key=value form")
        out[key] = value
    return out


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "render":
        docs = render_fallback(Path(argv[1]))
        sys.stdout.write(yaml.safe_dump_all(docs, sort_keys=False, allow_unicode=True))
        return 0
    print("usage: manifests.py render DIR", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
