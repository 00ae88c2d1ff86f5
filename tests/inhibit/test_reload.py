"""A rules reload rebuilds the inhibitor from the new rules: the OOM look-ahead follows the
longest `for` of the endpoints rules loaded now, not at start; the sources it holds stay."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

from tests.inhibit.helpers import oom, unhealthy
from watcher.assembly import assemble
from watcher.config import parse_config
from watcher.metrics import Metrics

OWN = "rules:\n  - name: shop-endpoints\n    source: endpoints\n    detector: endpoints_unhealthy\n    for: {for}\n"


def test_a_reload_moves_the_oom_look_ahead_to_the_new_endpoints_rules_for(tmp_path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(OWN.replace("{for}", "1m"))
    # (no status server: assembling binds its port, and the default one may be taken by anything)
    cfg = parse_config(f"data_dir: {tmp_path / 'data'}\nmetrics: {{enabled: false}}\nrules:\n  paths: [{rules}]\n",
                       "c.yaml", {})
    from watcher.validation import check_rules
    loaded = check_rules(cfg.rules.paths, builtins=cfg.rules.builtins, notifiers=cfg.notifiers)
    daemon = assemble(cfg, loaded.rules, stop=threading.Event(), started=datetime.now(timezone.utc),
                      metrics=Metrics(), replay_files=["/dev/null"])
    daemon.pipeline.start()
    try:
        assert daemon.inhibitor is not None
        daemon.inhibitor.observe(unhealthy(service="api", cause_workload="api"))
        assert daemon.inhibitor.look_ahead(oom()) == timedelta(seconds=75)
        rules.write_text(OWN.replace("{for}", "3m"))
        assert daemon.reloader.reload("test")
        assert daemon.inhibitor.look_ahead(oom()) == timedelta(minutes=3, seconds=15)
        covered = oom(pod="api-1", workload="api")
        assert daemon.inhibitor.inhibitor_of(covered, covered.at) is not None  # the source is kept
        assert not (tmp_path / "data" / "inhibition.json").exists()  # a replay keeps no state
    finally:
        daemon.pipeline.stop()
