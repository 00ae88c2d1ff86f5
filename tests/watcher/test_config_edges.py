"""Config values the types alone let through: ports out of range, a kubeconfig that cannot work."""
import pytest

from watcher.config import ConfigError, parse_config


def errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_config(text, "c.yaml", {})
    return [str(p) for p in err.value.problems]


@pytest.mark.parametrize("port", ["99999", "0", "65536", "'70000'"])
def test_a_metrics_port_outside_1_to_65535_is_rejected_with_its_line(port):
    assert errors(f"cluster: a\nmetrics:\n  address: 127.0.0.1\n  port: {port}\n") == [
        "c.yaml:4: metrics.port: expected a TCP port from 1 to 65535"]


@pytest.mark.parametrize("port", ["-1", "http", "1.5", "true"])
def test_a_metrics_port_that_is_not_a_whole_number_is_rejected_with_its_line(port):
    (problem,) = errors(f"cluster: a\nmetrics:\n  port: {port}\n")
    assert problem.startswith("c.yaml:3: metrics.port: expected a whole number")


@pytest.mark.parametrize("port", [1, 9102, 65535])
def test_a_metrics_port_in_range_is_accepted(port):
    assert parse_config(f"metrics: {{port: {port}}}\n", "c.yaml", {}).metrics.port == port


GOOD_KUBECONFIG = """apiVersion: v1
kind: Config
current-context: kea
clusters: [{name: kea, cluster: {server: "https://127.0.0.1:6443", certificate-authority: CA}}]
users: [{name: admin, user: {token: tok-5ecret-0123456789}}]
contexts: [{name: kea, context: {cluster: kea, user: admin}}]
"""

BAD_KUBECONFIGS = {
    "missing": (None, "cannot read {path}: No such file or directory"),
    "binary": (b"\x7fELF\x02\x01\x01\x00\xd0\xff" * 10, "not UTF-8"),
    "junk_text": (b"tok-5ecret-0123456789 is not: a: kubeconfig\n", "not YAML (line 1"),
    "a_list": (b"- tok-5ecret-0123456789\n", "expected a kubeconfig"),
    "empty": (b"", "expected a kubeconfig"),
    "no_current_context": (GOOD_KUBECONFIG.replace("current-context: kea\n", "").encode(), "current-context"),
    "contexts_not_a_list": (GOOD_KUBECONFIG.replace("contexts: [", "contexts: {x: [").replace("admin}}]\n", "admin}}]}\n").encode(),
                            "contexts"),
}


def _config_with_kubeconfig(tmp_path, case):
    content, message = BAD_KUBECONFIGS[case]
    kubeconfig = tmp_path / "kubeconfig"
    if content is not None:
        kubeconfig.write_bytes(content)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"cluster: a\nkubernetes:\n  kubeconfig: {kubeconfig}\n")
    return cfg, message.format(path=kubeconfig)


@pytest.mark.parametrize("case", sorted(BAD_KUBECONFIGS))
def test_config_check_names_a_kubeconfig_that_cannot_work(tmp_path, capsys, case):
    from watcher.cli import main

    cfg, message = _config_with_kubeconfig(tmp_path, case)
    assert main(["config", "check", "-c", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{cfg}:3: kubernetes.kubeconfig: ") and message in err, err
    assert "tok-5ecret" not in err  # a kubeconfig holds credentials: never echoed
    assert len(err.splitlines()) == 1


def test_config_check_names_an_unknown_context_at_its_line(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(GOOD_KUBECONFIG)
    assert errors(f"kubernetes:\n  kubeconfig: {kubeconfig}\n  context: prod\n") == [
        f"c.yaml:3: kubernetes.context: no context `prod` in {kubeconfig} (it has: kea)"]


def test_a_usable_kubeconfig_passes(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(GOOD_KUBECONFIG)
    assert parse_config(f"kubernetes:\n  kubeconfig: {kubeconfig}\n  context: kea\n", "c.yaml", {}).kubernetes.context == "kea"


def _run(cfg):
    import subprocess
    import sys
    from pathlib import Path

    return subprocess.run([sys.executable, "-m", "watcher.cli", "run", "-c", str(cfg)], cwd=Path(__file__).resolve().parents[2],
                          capture_output=True, text=True, timeout=60)


def test_run_with_a_missing_kubeconfig_stops_at_the_config_with_one_line(tmp_path):
    cfg, message = _config_with_kubeconfig(tmp_path, "missing")
    out = _run(cfg)
    assert out.returncode == 2 and out.stderr.splitlines() == [f"{cfg}:3: kubernetes.kubeconfig: {message}"]


def test_run_whose_credentials_cannot_load_exits_1_with_one_line(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(GOOD_KUBECONFIG.replace("certificate-authority: CA", f"certificate-authority: {tmp_path}/no-ca.crt"))
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"data_dir: {tmp_path}/data\nmetrics: {{enabled: false}}\nkubernetes: {{kubeconfig: {kubeconfig}}}\n")
    out = _run(cfg)
    assert out.returncode == 1 and "Traceback" not in out.stderr and "tok-5ecret" not in out.stderr
    assert [line for line in out.stderr.splitlines() if "no-ca.crt" in line] == [
        f"{cfg}: kubernetes.kubeconfig: {kubeconfig}: cannot load the credentials: File does not exist: {tmp_path}/no-ca.crt"]


def test_run_outside_a_cluster_without_a_kubeconfig_exits_1_with_one_line(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"data_dir: {tmp_path}/data\nmetrics: {{enabled: false}}\n")
    out = _run(cfg)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert [line for line in out.stderr.splitlines() if "in-cluster" in line] == [
        f"{cfg}: no in-cluster service account (Service host/port is not set.); outside a cluster, set kubernetes.kubeconfig"]


def test_a_kubeconfig_list_names_the_file_that_is_missing(tmp_path):
    good, missing = tmp_path / "a", tmp_path / "b"
    good.write_text(GOOD_KUBECONFIG)
    assert errors(f"kubernetes:\n  kubeconfig: '{good}:{missing}'\n") == [
        f"c.yaml:2: kubernetes.kubeconfig: cannot read {missing}: No such file or directory"]
