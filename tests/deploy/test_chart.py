"""The Helm chart charts/kube-event-alerter with the real helm (tests/deploy/gotools.py):
`helm lint --strict` and `helm template` for the value sets of ci/ and the defaults; deploy/
is exactly what tools/render-kustomize-base.sh renders from the chart; the config the chart
writes passes the daemon's own `config check` with the Secret it mounts; values that cannot
work fail the render with a message naming the value.

The rendered objects against the real kube-apiserver: test_chart_kube.py."""
from __future__ import annotations

import base64
import filecmp
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.gotools import tool
from tests.deploy.manifests import REPO, by_kind, containers, one, pod_spec
from watcher.cli import main as cli_main
from watcher.config import parse_config

CHART = REPO / "charts" / "kube-event-alerter"
VALUE_SETS = ["defaults"] + sorted(p.name[: -len("-values.yaml")] for p in (CHART / "ci").glob("*-values.yaml"))
SECRETS_DIR = "/etc/kube-event-alerter/secrets"


@pytest.fixture(scope="module")
def helm() -> Path:
    return tool("helm")


def values_args(value_set: str) -> list[str]:
    return [] if value_set == "defaults" else ["-f", str(CHART / "ci" / f"{value_set}-values.yaml")]


def template(helm: Path, *args: str, release: str = "kube-event-alerter",
             namespace: str = "kube-event-alerter") -> list[dict]:
    proc = subprocess.run([str(helm), "template", release, str(CHART), "--namespace", namespace, *args],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def template_error(helm: Path, *args: str) -> str:
    proc = subprocess.run([str(helm), "template", "kea", str(CHART), *args],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0, "expected the render to fail"
    return proc.stderr


def config_of(docs: list[dict], fullname: str = "kube-event-alerter") -> dict:
    return yaml.safe_load(one(docs, "ConfigMap", f"{fullname}-config")["data"]["config.yaml"])


def secret_volume(docs: list[dict]) -> dict:
    (vol,) = [v for v in pod_spec(one(docs, "Deployment"))["volumes"] if v["name"] == "secrets"]
    return vol["secret"]


def secret_files(cfg: dict) -> set[str]:
    """The Secret keys the config reads: the file names of every `*_file` under the mount."""
    found: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key.endswith("_file") and isinstance(value, str) and value:
                    assert value.startswith(SECRETS_DIR + "/"), f"{key}: {value} is not in the mounted Secret"
                    found.add(value[len(SECRETS_DIR) + 1:])
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)
    walk(cfg)
    return found


def config_check(tmp_path: Path, docs: list[dict], secret_data: dict[str, str], capsys):
    """`kube-event-alerter config check` on the config as mounted, with these secret files."""
    cfg_text = one(docs, "ConfigMap", "kube-event-alerter-config")["data"]["config.yaml"]
    root = tmp_path / "root"
    rules = root / "etc/kube-event-alerter/rules"
    rules.mkdir(parents=True)
    for name, text in (one(docs, "ConfigMap", "kube-event-alerter-rules").get("data") or {}).items():
        (rules / name).write_text(text, encoding="utf-8")
    secrets = root / SECRETS_DIR.lstrip("/")
    secrets.mkdir(parents=True)
    for key, value in secret_data.items():
        (secrets / key).write_text(value, encoding="utf-8")
    text = re.sub(r"(?<![\w/])/etc/kube-event-alerter/", f"{root}/etc/kube-event-alerter/", cfg_text)
    text = text.replace("/var/lib/kube-event-alerter", str(tmp_path / "data"))
    config = root / "etc/kube-event-alerter/config.yaml"
    config.write_text(text, encoding="utf-8")
    assert cli_main(["config", "check", "-c", str(config)]) == 0, capsys.readouterr().err
    return parse_config(config.read_text(), str(config), env={})


# ------------------------------------------------------------------------- lint, one source


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_helm_lint_is_clean(helm, value_set):
    proc = subprocess.run([str(helm), "lint", "--strict", str(CHART), *values_args(value_set)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 chart(s) failed" in proc.stdout
    assert "[WARNING]" not in proc.stdout and "[ERROR]" not in proc.stdout, proc.stdout


def test_deploy_is_rendered_from_the_chart(helm, tmp_path):
    """deploy/base, deploy/servicemonitor.yaml and the Prometheus rules file are generated:
    a hand edit there, or a chart change without re-rendering, fails here."""
    out = tmp_path / "deploy"
    proc = subprocess.run(["bash", str(REPO / "tools" / "render-kustomize-base.sh"), str(out)],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "HELM": str(helm)})
    assert proc.returncode == 0, proc.stderr
    stale = "deploy/ is not what the chart renders: run tools/render-kustomize-base.sh"
    base = REPO / "deploy" / "base"
    assert sorted(p.name for p in (out / "base").iterdir()) == sorted(p.name for p in base.iterdir()), stale
    for rel in [f"base/{p.name}" for p in base.iterdir()] + ["servicemonitor.yaml",
                                                               "prometheus/kube-event-alerter-rules.yaml"]:
        assert filecmp.cmp(out / rel, REPO / "deploy" / rel, shallow=False), f"{stale} ({rel})"


def test_defaults_are_the_base_without_the_namespace(helm):
    docs = template(helm)
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == sorted(["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
                            "ConfigMap", "ConfigMap", "Deployment", "Service", "PodDisruptionBudget",
                            "NetworkPolicy"]), "helm install --create-namespace owns the namespace"
    assert not by_kind(docs, "Secret"), "no Secret unless secret.values asks for one"
    assert secret_volume(docs)["secretName"] == "kube-event-alerter-webhooks"
    dep = one(docs, "Deployment")
    assert dep["spec"]["replicas"] == 2
    cfg = config_of(docs)
    assert cfg["kubernetes"]["leader_election"]["enabled"] is True
    (role,) = by_kind(docs, "Role")
    named = [r for r in role["rules"] if r.get("resourceNames")]
    assert named[0]["resourceNames"] == [cfg["kubernetes"]["leader_election"]["lease_name"]]


def test_release_name_and_namespace_reach_every_object(helm):
    docs = template(helm, release="ops", namespace="monitoring")
    for d in docs:
        assert d["metadata"]["name"].startswith("ops-kube-event-alerter"), d["metadata"]["name"]
        if d["kind"] not in ("ClusterRole", "ClusterRoleBinding"):
            assert d["metadata"]["namespace"] == "monitoring", d["kind"]
        for s in d.get("subjects", []):
            assert (s["name"], s["namespace"]) == ("ops-kube-event-alerter", "monitoring")
    dep = one(docs, "Deployment")
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/instance"] == "ops"
    assert all(labels[k] == v for k, v in dep["spec"]["selector"]["matchLabels"].items())
    vols = {v["name"]: v for v in pod_spec(dep)["volumes"]}
    assert vols["config"]["configMap"]["name"] == "ops-kube-event-alerter-config"
    assert vols["rules"]["configMap"]["name"] == "ops-kube-event-alerter-rules"
    assert vols["secrets"]["secret"]["secretName"] == "ops-kube-event-alerter-webhooks"
    (c,) = containers(dep)
    assert c["image"] == "kube-event-alerter:0.1.0"


def test_image_digest_wins_over_the_tag(helm):
    digest = "sha256:" + "ab" * 32
    docs = template(helm, "--set", "image.repository=registry.example.com/ops/kea", "--set", f"image.digest={digest}")
    (c,) = containers(one(docs, "Deployment"))
    assert c["image"] == f"registry.example.com/ops/kea@{digest}"


# ------------------------------------------------------------------------- value sets


def test_elasticsearch_with_an_existing_secret(helm, tmp_path, capsys):
    docs = template(helm, *values_args("es-existing-secret"))
    assert not by_kind(docs, "Secret"), "the operator's Secret is referenced, not created"
    assert secret_volume(docs) == {"secretName": "ops-kea-secrets", "optional": False, "defaultMode": 0o440}
    cfg = config_of(docs)
    assert cfg["elasticsearch"]["enabled"] is True
    assert cfg["elasticsearch"]["password_file"] == f"{SECRETS_DIR}/es-password"
    assert "password" not in cfg["elasticsearch"], "no inline password in the ConfigMap"
    assert secret_files(cfg) == {"es-password", "wecom-url"}
    parsed = config_check(tmp_path, docs, {"es-password": "s3cret-pw",
                                           "wecom-url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=0123456789abcdef"},
                          capsys)
    assert parsed.elasticsearch.enabled and "s3cret-pw" in parsed.secrets


def test_webhook_secret_created_from_values(helm, tmp_path, capsys):
    docs = template(helm, *values_args("secret-values"))
    wanted = yaml.safe_load((CHART / "ci" / "secret-values-values.yaml").read_text())["secret"]["values"]
    secret = one(docs, "Secret")
    assert secret["metadata"]["name"] == secret_volume(docs)["secretName"] == "kube-event-alerter-webhooks"
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert data == wanted
    cfg = config_of(docs)
    assert secret_files(cfg) == set(wanted), "every key the config reads is in the Secret, and only those"
    rendered_elsewhere = yaml.safe_dump_all([d for d in docs if d["kind"] != "Secret"], allow_unicode=True)
    for value in wanted.values():
        assert value not in rendered_elsewhere, "a secret value leaked outside the Secret"
    parsed = config_check(tmp_path, docs, data, capsys)
    assert set(parsed.routing.default) == {"ops-wecom", "ops-dingtalk"}
    # A rotated value changes the pod template: `helm upgrade` rolls the pods to read it.
    before = one(docs, "Deployment")["spec"]["template"]["metadata"]["annotations"]["checksum/secret"]
    rotated = template(helm, *values_args("secret-values"), "--set-string", "secret.values.wecom-url=https://x/?key=new")
    assert one(rotated, "Deployment")["spec"]["template"]["metadata"]["annotations"]["checksum/secret"] != before


def test_a_config_change_rolls_the_pods(helm):
    def checksum(*args):
        return one(template(helm, *args), "Deployment")["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    assert checksum() == checksum()
    assert checksum("--set", "config.cluster=other") != checksum()


def test_servicemonitor_and_prometheusrule(helm):
    docs = template(helm, *values_args("monitoring"), release="kea", namespace="obs")
    svc, sm, rule = one(docs, "Service"), one(docs, "ServiceMonitor"), one(docs, "PrometheusRule")
    assert all(svc["metadata"]["labels"].get(k) == v for k, v in sm["spec"]["selector"]["matchLabels"].items())
    assert sm["spec"]["namespaceSelector"]["matchNames"] == ["obs"]
    assert [e["port"] for e in sm["spec"]["endpoints"]] == [svc["spec"]["ports"][0]["name"]]
    assert sm["metadata"]["labels"]["release"] == rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    shipped = yaml.safe_load((CHART / "files" / "prometheus-rules.yaml").read_text())
    assert rule["spec"] == shipped, "the PrometheusRule is the shipped rules file"
    netpol = one(docs, "NetworkPolicy")
    assert netpol["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert netpol["spec"]["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"] == \
        {"kubernetes.io/metadata.name": "monitoring"}


def test_the_operator_objects_are_off_by_default(helm):
    kinds = {d["kind"] for d in template(helm)}
    assert not kinds & {"ServiceMonitor", "PrometheusRule"}, "the CRDs may be absent"


# ------------------------------------------------------------------------- values that cannot work


@pytest.mark.parametrize("args, message", [
    (["--set", "secret.existingSecret=mine", "--set", "secret.values.wecom-url=x"], "secret: set existingSecret"),
    (["--set", "config.kubernetes.leader_election.enabled=false"], "replicas > 1 needs config.kubernetes.leader_election.enabled"),
    (["--set", "config.rules.paths={/a,/b}"], "config.rules.paths: the chart mounts the rules ConfigMap as one directory"),
    (["--set", "config.metrics.enabled=false"], "config.metrics.enabled"),
    (["--set", "config.data_dir=relative"], "config.data_dir: an absolute path"),
    (["--set-string", "rules.bad/name\\.yaml=x"], "rules.bad/name.yaml"),
    (["--set", "config.kubernetes.leader_election.lease_namespace=elsewhere"], "lease_namespace"),
])
def test_values_that_cannot_work_fail_the_render(helm, args, message):
    assert message in template_error(helm, *args)


def test_one_replica_without_leader_election_renders(helm):
    docs = template(helm, "--set", "replicas=1", "--set", "config.kubernetes.leader_election.enabled=false")
    assert one(docs, "Deployment")["spec"]["replicas"] == 1
    assert not by_kind(docs, "Role"), "no Lease, no Lease Role"
    assert not by_kind(docs, "PodDisruptionBudget"), "minAvailable 1 of 1 replica would block every drain"


# ------------------------------------------------------------------------- values mirror the config


def _paths(node, prefix=()) -> set[tuple]:
    if not isinstance(node, dict):
        return {prefix}
    out = set()
    for key, value in node.items():
        out |= _paths(value, prefix + (key,))
    return out


# In config.example.yaml but deliberately not set in the chart's values.
NOT_IN_VALUES = {
    ("elasticsearch", "username"): "commented: only with password_file, when ES is enabled",
    ("elasticsearch", "password"): "a secret: password_file from the mounted Secret instead",
}


def test_values_config_mirrors_config_example():
    example = yaml.safe_load((REPO / "config.example.yaml").read_text(encoding="utf-8"))
    values = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))["config"]
    wanted = {p for p in _paths(example) if p[0] != "notifiers"}
    missing = sorted(wanted - _paths(values) - set(NOT_IN_VALUES))
    assert not missing, f"config.example.yaml keys missing from the chart's values: {missing}"


def test_the_default_robot_and_rule_file_can_be_dropped(helm, tmp_path, capsys):
    docs = template(helm, "--set", "config.notifiers.ops-wecom=null",
                    "--set", "config.notifiers.ops-feishu.type=feishu",
                    "--set", f"config.notifiers.ops-feishu.url_file={SECRETS_DIR}/feishu-url",
                    "--set", "config.routing.default={ops-feishu}", "--set", "rules.backoff\\.yaml=null")
    cfg = config_of(docs)
    assert list(cfg["notifiers"]) == ["ops-feishu"]
    assert not one(docs, "ConfigMap", "kube-event-alerter-rules").get("data")
    parsed = config_check(tmp_path, docs, {"feishu-url": "https://open.feishu.cn/open-apis/bot/v2/hook/0123"}, capsys)
    assert list(parsed.notifiers) == ["ops-feishu"]
