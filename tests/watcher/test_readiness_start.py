"""/readyz is not ready before the sources have started and listed."""
import threading

from watcher.config import parse_config
from watcher.health import Health
from watcher.metrics import Metrics
from watcher.wiring import build_components


def test_not_ready_before_the_sources_start(tmp_path):
    cfg = parse_config(f"cluster: t\ndata_dir: {tmp_path}\nnotifiers: {{}}\n", "c.yaml", {})
    health = Health()
    build_components(cfg, metrics=Metrics("t"), health=health, stop=threading.Event())
    ready, checks = health.evaluate(health.readiness)
    assert not ready and "sources" in checks
