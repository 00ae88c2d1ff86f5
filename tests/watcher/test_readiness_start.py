"""/readyz is not ready before the sources have started and listed."""
import threading

from watcher.config import parse_config
from watcher.health import Health
from watcher.metrics import Metrics
from watcher.sourcing import Sources


def test_not_ready_before_the_sources_start(tmp_path):
    cfg = parse_config(f"cluster: t\ndata_dir: {tmp_path}\nnotifiers: {{}}\n", "c.yaml", {})
    sources = Sources(cfg, put=lambda r: None, leader=None, stop=threading.Event(), metrics=Metrics("t"),
                      health=Health())
    ready, why = sources.checks()["sources"]()
    assert not ready and why == "starting"
