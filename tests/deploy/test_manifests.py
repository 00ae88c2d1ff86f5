"""deploy/: every manifest of the Kustomize base, read as data. RBAC is read-only but for the
daemon's own Lease, the pod is locked down and probed, and the config, rules and Secret the
Deployment mounts are the ones the daemon's own loaders accept."""
from __future__ import annotations

import configparser
import json
import os
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from rules.loader import load_rule_set
from tests.deploy.manifests import (BASE, REPO, by_kind, containers, kustomize_command, load_yaml_docs,
                                    one, pod_spec, render, render_fallback, render_kustomize)
from watcher.cli import main as cli_main
from watcher.config import parse_config
from watcher.assembly import SHUTDOWN_DEADLINE_SECONDS

NS = "kube-event-alerter"
READ_ONLY = {"get", "list", "watch"}
LEASE_VERBS = {"get", "create", "update"}


@pytest.fixture(scope="module")
def docs():
    return render(BASE)


@pytest.fixture(scope="module")
def deployment(docs):
    return one(docs, "Deployment", "kube-event-alerter")


@pytest.fixture(scope="module")
def pod(deployment):
    return pod_spec(deployment)


@pytest.fixture(scope="module")
def container(deployment):
    (c,) = containers(deployment)
    return c


@pytest.fixture(scope="module")
def config_text(docs):
    return one(docs, "ConfigMap", "kube-event-alerter-config")["data"]["config.yaml"]


@pytest.fixture(scope="module")
def secret_example():
    (secret,) = load_yaml_docs(REPO / "deploy" / "secret.example.yaml")
    return secret


def _mount(container: dict, volume: str) -> dict:
    (m,) = [m for m in container["volumeMounts"] if m["name"] == volume]
    return m


def _volume(pod: dict, name: str) -> dict:
    (v,) = [v for v in pod["volumes"] if v["name"] == name]
    return v


def _port(container: dict, port) -> int:
    if isinstance(port, int):
        return port
    (p,) = [p["containerPort"] for p in container["ports"] if p["name"] == port]
    return p


def _matches(selector: dict, labels: dict) -> bool:
    assert set(selector) <= {"matchLabels"}, "only matchLabels selectors are used here"
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


# ------------------------------------------------------------------------- the kustomization


def test_every_file_in_the_base_is_listed_and_nothing_else():
    kust = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    files = {p.name for p in BASE.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kust["resources"]) == files, "a manifest in deploy/base is missing from kustomization.yaml (or vice versa)"
    assert kust["namespace"] == NS


def test_all_objects_in_the_daemons_namespace_and_no_secrets(docs):
    kinds = {d["kind"] for d in docs}
    assert {"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
            "ConfigMap", "Deployment", "Service", "PodDisruptionBudget"} <= kinds
    assert "Secret" not in kinds, "secrets are created by the operator, never shipped in the base"
    for d in docs:
        if d["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding"):
            assert d["metadata"]["namespace"] == NS, d["metadata"]
    ns = one(docs, "Namespace")
    assert ns["metadata"]["name"] == NS
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


@pytest.mark.skipif(kustomize_command() is None, reason="neither kustomize nor kubectl installed")
def test_fallback_renderer_agrees_with_kustomize():
    """lint-deploy.sh and the tests use the fallback where kustomize is missing: same objects."""
    def key(d):
        return d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]
    real = {key(d): d for d in render_kustomize(BASE)}
    ours = {key(d): d for d in render_fallback(BASE)}
    assert real.keys() == ours.keys()
    for k in real:
        assert real[k] == ours[k], k


def test_example_secret_and_servicemonitor_are_outside_the_base(docs, secret_example):
    assert secret_example["kind"] == "Secret"
    assert (secret_example["metadata"]["name"], secret_example["metadata"]["namespace"]) == \
        ("kube-event-alerter-webhooks", NS)
    (sm,) = load_yaml_docs(REPO / "deploy" / "servicemonitor.yaml")
    assert sm["apiVersion"] == "monitoring.coreos.com/v1" and sm["kind"] == "ServiceMonitor"
    assert not by_kind(docs, "ServiceMonitor"), "the CRD may be absent: keep it out of the base"


# ------------------------------------------------------------------------- RBAC


def test_cluster_role_is_read_only_on_exactly_the_watched_resources(docs):
    (role,) = by_kind(docs, "ClusterRole")
    granted = set()
    for rule in role["rules"]:
        assert "nonResourceURLs" not in rule and "resourceNames" not in rule
        assert set(rule["verbs"]) <= READ_ONLY, f"ClusterRole must be read-only: {rule}"
        assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"]
        granted |= {(g, r, v) for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]}
    wanted = {(g, r, v) for g, r in [("", "events"), ("", "pods"), ("", "endpoints"),
                                     ("discovery.k8s.io", "endpointslices")] for v in READ_ONLY}
    assert granted == wanted, f"extra: {granted - wanted}, missing: {wanted - granted}"


def test_lease_role_is_namespaced_and_limited_to_the_configured_lease(docs, config_text):
    (role,) = by_kind(docs, "Role")
    assert role["metadata"]["namespace"] == NS
    verbs = set()
    lease_name = yaml.safe_load(config_text)["kubernetes"]["leader_election"]["lease_name"]
    for rule in role["rules"]:
        assert rule["apiGroups"] == ["coordination.k8s.io"] and rule["resources"] == ["leases"], rule
        assert set(rule["verbs"]) <= LEASE_VERBS, f"lease Role verbs must be within {LEASE_VERBS}: {rule}"
        verbs |= set(rule["verbs"])
        if set(rule["verbs"]) & {"get", "update"}:
            assert rule.get("resourceNames") == [lease_name], "get/update only on the daemon's Lease"
    assert verbs == LEASE_VERBS


def test_bindings_grant_the_roles_to_the_service_account_only(docs, pod):
    sa = one(docs, "ServiceAccount")
    assert pod["serviceAccountName"] == sa["metadata"]["name"]
    subject = {"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": NS}
    for kind, role_kind in (("ClusterRoleBinding", "ClusterRole"), ("RoleBinding", "Role")):
        (binding,) = by_kind(docs, kind)
        (role,) = by_kind(docs, role_kind)
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind,
                                      "name": role["metadata"]["name"]}
        assert binding["subjects"] == [subject]


# ------------------------------------------------------------------------- the Deployment


def test_two_replicas_spread_across_nodes(deployment, pod):
    assert deployment["spec"]["replicas"] == 2
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert _matches(deployment["spec"]["selector"], labels)
    (term,) = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert _matches(term["podAffinityTerm"]["labelSelector"], labels), "anti-affinity must select its own pods"
    assert "requiredDuringSchedulingIgnoredDuringExecution" not in pod["affinity"]["podAntiAffinity"], \
        "preferred: a one-node cluster must still run both"
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_pod_and_container_security_context(pod, container):
    psc, csc = pod["securityContext"], container["securityContext"]
    assert psc["runAsNonRoot"] is True and psc["runAsUser"] == 10001
    assert psc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert csc["runAsNonRoot"] is True and csc.get("runAsUser", psc["runAsUser"]) == 10001
    assert csc["readOnlyRootFilesystem"] is True
    assert csc["allowPrivilegeEscalation"] is False
    assert csc.get("privileged", False) is False
    assert csc["capabilities"] == {"drop": ["ALL"]}
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        assert not pod.get(key)
    assert not [v for v in pod["volumes"] if "hostPath" in v]


def test_probes_hit_healthz_and_readyz_on_the_metrics_port(pod, container, config_text):
    port = yaml.safe_load(config_text)["metrics"]["port"]
    assert port == 9102
    live, ready, start = container["livenessProbe"], container["readinessProbe"], container["startupProbe"]
    assert live["httpGet"]["path"] == "/healthz" and _port(container, live["httpGet"]["port"]) == port
    assert ready["httpGet"]["path"] == "/readyz" and _port(container, ready["httpGet"]["port"]) == port
    assert start["httpGet"]["path"] == "/healthz" and _port(container, start["httpGet"]["port"]) == port
    assert live["timeoutSeconds"] < live["periodSeconds"]
    assert pod["terminationGracePeriodSeconds"] > SHUTDOWN_DEADLINE_SECONDS, \
        "the kubelet must not SIGKILL the daemon while it flushes the outbox"


def test_resources_are_sized(container):
    res = container["resources"]
    assert res["requests"]["cpu"] == "100m" and res["requests"]["memory"] == "256Mi"
    assert res["limits"]["memory"] == "512Mi"

    def mib(q: str) -> float:
        return float(q[:-2]) * {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024}[q[-2:]]
    assert mib(res["limits"]["memory"]) >= mib(res["requests"]["memory"])


def test_downward_api_env_and_token(pod, container):
    env = {e["name"]: e for e in container["env"]}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert pod["automountServiceAccountToken"] is True, "the daemon authenticates with its token"
    assert not [e for e in container["env"] if "secretKeyRef" in e.get("valueFrom", {})], \
        "webhook secrets are mounted files, not env (kubectl describe, /proc/*/environ)"


def test_image_is_the_versioned_placeholder(container):
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg", encoding="utf-8")
    assert container["image"] == f"kube-event-alerter:{cfg['metadata']['version']}"


def test_volumes_config_rules_secret_and_data(docs, pod, container, config_text, secret_example):
    cfg = yaml.safe_load(config_text)
    volumes = {v["name"] for v in pod["volumes"]}
    assert {m["name"] for m in container["volumeMounts"]} <= volumes
    # data_dir: a writable emptyDir, sized above the ES spool bound.
    data = _mount(container, "data")
    assert data["mountPath"] == cfg["data_dir"] == "/var/lib/kube-event-alerter" and not data.get("readOnly")
    size = _volume(pod, "data")["emptyDir"]["sizeLimit"]
    assert size.endswith("Gi") and int(size[:-2]) * 2**30 > cfg["elasticsearch"]["spool_max_bytes"]
    # Read-only mounts of the ConfigMaps in the base and of the Secret of secret.example.yaml.
    configmaps = {d["metadata"]["name"] for d in by_kind(docs, "ConfigMap")}
    for name in ("config", "rules", "secrets"):
        assert _mount(container, name)["readOnly"] is True
    assert _volume(pod, "config")["configMap"]["name"] in configmaps
    assert _volume(pod, "rules")["configMap"]["name"] in configmaps
    assert "subPath" not in _mount(container, "rules"), "a subPath mount never sees ConfigMap updates (hot reload)"
    assert [_mount(container, "rules")["mountPath"]] == cfg["rules"]["paths"]
    secret = _volume(pod, "secrets")["secret"]
    assert secret["secretName"] == secret_example["metadata"]["name"]
    assert secret["optional"] is False, "no Secret, no start: better than a daemon that cannot notify"


# ------------------------------------------------------------------------- Service, PDB, policy


def test_service_pdb_networkpolicy_and_servicemonitor_select_the_pods(docs, deployment, container):
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    svc = one(docs, "Service")
    assert all(labels.get(k) == v for k, v in svc["spec"]["selector"].items())
    (port,) = svc["spec"]["ports"]
    assert port["name"] == "metrics" and _port(container, port["targetPort"]) == 9102
    pdb = one(docs, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1 < deployment["spec"]["replicas"]
    assert _matches(pdb["spec"]["selector"], labels)
    netpol = one(docs, "NetworkPolicy")
    assert _matches(netpol["spec"]["podSelector"], labels)
    allowed = [p["port"] for rule in netpol["spec"]["ingress"] for p in rule["ports"]]
    assert [_port(container, p) for p in allowed] == [9102]
    (sm,) = load_yaml_docs(REPO / "deploy" / "servicemonitor.yaml")
    assert _matches(sm["spec"]["selector"], svc["metadata"]["labels"])
    assert sm["spec"]["namespaceSelector"]["matchNames"] == [NS]
    assert [e["port"] for e in sm["spec"]["endpoints"]] == ["metrics"]


# ------------------------------------------------------------------------- what gets mounted


def _mounted_tree(tmp_path: Path, docs, container, secret_example) -> Path:
    """The pod's /etc/kube-event-alerter, under tmp_path: config, rules and secrets laid out as
    the kubelet does (ConfigMap/Secret volumes are ..data symlinks to a timestamped dir)."""
    root = tmp_path / "root"

    def atomic_dir(path: Path, files: dict[str, str]) -> None:
        stamp = path / "..2026_01_01_00_00_00.000000001"
        stamp.mkdir(parents=True)
        for name, text in files.items():
            (stamp / name).write_text(text, encoding="utf-8")
        os.symlink(stamp.name, path / "..data")
        for name in files:
            os.symlink(f"..data/{name}", path / name)

    rules_mount = _mount(container, "rules")["mountPath"]
    secrets_mount = _mount(container, "secrets")["mountPath"]
    atomic_dir(root / rules_mount.lstrip("/"), one(docs, "ConfigMap", "kube-event-alerter-rules")["data"])
    # Dummy values of the right shape for every key the example Secret documents.
    atomic_dir(root / secrets_mount.lstrip("/"), {k: v.replace("REPLACE-ME", "0123456789abcdef")
                                                   for k, v in secret_example["stringData"].items()})
    text = one(docs, "ConfigMap", "kube-event-alerter-config")["data"]["config.yaml"]
    text = re.sub(r"(?<![\w/])/etc/kube-event-alerter/", f"{root}/etc/kube-event-alerter/", text)
    text = text.replace("/var/lib/kube-event-alerter", str(tmp_path / "data"))
    config = root / "etc/kube-event-alerter/config.yaml"
    config.write_text(text, encoding="utf-8")
    return config


def test_configmap_config_passes_config_check(tmp_path, docs, container, secret_example, capsys):
    """`kube-event-alerter config check` on the mounted layout: the config, the rules it names
    and the secret files it reads."""
    config = _mounted_tree(tmp_path, docs, container, secret_example)
    assert cli_main(["config", "check", "-c", str(config)]) == 0, capsys.readouterr().err
    cfg = parse_config(config.read_text(), str(config), env={})
    assert cfg.kubernetes.leader_election.enabled is True
    assert cfg.elasticsearch.enabled is False
    assert cfg.metrics.enabled and cfg.metrics.port == 9102
    assert cfg.routing.default and set(cfg.routing.default) <= set(cfg.notifiers)
    assert cfg.secrets, "the webhook URL from the secret file is registered for log redaction"


def test_config_reads_secrets_only_from_the_mounted_secret(config_text, container, secret_example):
    secrets_mount = _mount(container, "secrets")["mountPath"]
    cfg = yaml.safe_load(config_text)
    files = [v for n in cfg["notifiers"].values() for k, v in n.items() if k.endswith("_file")]
    assert files, "the notifiers read their URLs from files"
    for path in files:
        assert path.startswith(secrets_mount + "/") and path.rsplit("/", 1)[1] in secret_example["stringData"], path
    for n in cfg["notifiers"].values():
        for key in ("url", "secret", "hmac_secret", "token"):
            assert key not in n, f"{key} inline in the ConfigMap: use {key}_file"


def test_rules_configmap_loads_from_a_configmap_volume(tmp_path, docs, container, secret_example):
    config = _mounted_tree(tmp_path, docs, container, secret_example)
    rules_dir = config.parent / "rules"
    result = load_rule_set([rules_dir], builtins=True)
    assert not result.problems, result.problems
    names = [r.name for r in result.rules]
    assert names.count("backoff-storm") == 1, f"loaded once, not again through ..data: {names}"
    assert {"oom-killed", "endpoints-unhealthy"} <= set(names)


def _backoff_recording(path: Path, repeats: int) -> None:
    t0 = datetime(2026, 11, 20, 2, 0, tzinfo=timezone.utc)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "api-1", "namespace": "shop", "uid": "u-1", "resourceVersion": "1",
        "creationTimestamp": t0.strftime("%Y-%m-%dT%H:%M:%SZ")}, "spec": {"containers": [{"name": "api"}]},
        "status": {"phase": "Running"}}
    lines = [{"type": "ADDED", "object": pod}]
    first = t0 + timedelta(minutes=1)
    for n in range(1, repeats + 1):
        at = (first + timedelta(seconds=30 * n)).strftime("%Y-%m-%dT%H:%M:%SZ")
        lines.append({"type": "ADDED" if n == 1 else "MODIFIED", "object": {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": "api-1.17f0", "namespace": "shop", "uid": "e-1", "resourceVersion": str(10 + n),
                         "creationTimestamp": first.strftime("%Y-%m-%dT%H:%M:%SZ")},
            "involvedObject": {"kind": "Pod", "namespace": "shop", "name": "api-1", "uid": "u-1", "apiVersion": "v1"},
            "reason": "BackOff", "type": "Warning", "message": "Back-off restarting failed container api",
            "source": {"component": "kubelet", "host": "node-1"}, "count": n,
            "firstTimestamp": first.strftime("%Y-%m-%dT%H:%M:%SZ"), "lastTimestamp": at}})
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")


@pytest.mark.parametrize("repeats, fires", [(4, False), (5, True)])
def test_backoff_rule_fires_at_five_in_ten_minutes(tmp_path, docs, repeats, fires):
    from watcher.replay import replay

    rules_file = tmp_path / "backoff.yaml"
    rules_file.write_text(one(docs, "ConfigMap", "kube-event-alerter-rules")["data"]["backoff.yaml"])
    recording = tmp_path / "rec.jsonl"
    _backoff_recording(recording, repeats)
    loaded = load_rule_set([rules_file], builtins=False)
    assert not loaded.problems
    alerts = []
    replay([str(recording)], loaded.rules, emit=alerts.append)
    firing = [a for a in alerts if a.rule == "backoff-storm" and a.status == "firing"]
    assert bool(firing) is fires, alerts
    if fires:
        assert firing[0].namespace == "shop" and firing[0].severity == "warning"
