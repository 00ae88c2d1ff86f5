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
