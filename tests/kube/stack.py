"""One replica of the daemon, in-process, on the real apiserver: its own ApiClient → real
Watchers → `watcher.pipeline.Pipeline` (real rules engine) → optional alert router and Lease
loop → collected alerts. Two stacks on one apiserver are two replicas."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any, Callable, Optional, Sequence

from rules.engine import Engine
from rules.loader import load_rule_set, load_text
from tests.kube.helpers import Alerts, Records, Stats, all_listed, utcnow, wait_until
from watcher.kube import PODS, LeaderElector, ResourceSpec, Watcher
from watcher.pipeline import Pipeline


def rules(extra: str = "") -> list:
    """The built-in rules, with same-named rules in `extra` replacing them (as a user's rule
    files do)."""
    builtin = load_rule_set([]).rules
    if not extra:
        return builtin
    user = load_text(extra, "test-rules.yaml")
    assert user.ok, [str(p) for p in user.problems]
    names = {r.name for r in user.rules}
    return [r for r in builtin if r.name not in names] + user.rules


class Stack:
    def __init__(self, cp: Any, *, namespace: Optional[str], specs: Sequence[ResourceSpec] = (PODS,),
                 rule_list: Optional[list] = None, router: bool = False, watch_timeout: float = 60.0,
                 clock: Callable[[], datetime] = utcnow, router_kwargs: Optional[dict] = None) -> None:
        """`clock`: this replica's wall clock (a node running behind); `router_kwargs` replace
        the router's defaults (`submit` into a real dispatcher, leadership hooks)."""
        self.api = cp.api_client()
        self.stop = threading.Event()
        self.stats = Stats()
        self.decided = Alerts()
        """Every alert change the engine decided (leader or not)."""
        self.delivered = Alerts()
        """What this replica sends: all decisions, or with `router` what the router submits."""
        # Object times have whole seconds: history is what happened before this second.
        self.engine = Engine(rule_list if rule_list is not None else rules(),
                             stale_before=utcnow().replace(microsecond=0))
        self.router = None
        if router:
            from watcher.alerting import AlertRouter

            self.router = AlertRouter(**{"submit": self.delivered, "on_alert": self.decided,
                                         "hold": timedelta(seconds=60), **(router_kwargs or {})})
            on_alert = self.router
        else:
            def on_alert(alert):
                self.decided(alert)
                self.delivered(alert)
        self.clock = clock
        self.pipeline = Pipeline(self.engine, clock=clock, on_alert=on_alert, tick_seconds=0.2)
        self.records = Records(then=self.pipeline.put)
        self.watchers = [
            Watcher(self.api, spec, namespace=namespace, cluster="test", sink=self.records, stop=self.stop,
                    watch_timeout=watch_timeout, request_timeout=watch_timeout + 15, stats=self.stats,
                    max_backoff=2.0)
            for spec in specs]
        self.elector: Optional[LeaderElector] = None

    def elect(self, cfg: Any, identity: str, **kw: Any) -> LeaderElector:
        assert self.router is not None, "leader election needs the router"
        self.elector = LeaderElector(self.api, cfg, identity=identity, stop=self.stop, stats=self.stats,
                                     on_started_leading=self.router.became_leader,
                                     on_stopped_leading=self.router.lost_leadership, release_on_stop=False,
                                     wall_clock=self.clock, **kw)
        return self.elector

    def start(self) -> "Stack":
        self.pipeline.start()
        for w in self.watchers:
            w.start()
        all_listed(self.watchers)
        self.pipeline.drain()
        if self.elector is not None:
            self.elector.start()
        return self

    def settle(self, rv: Any, timeout: float = 30.0) -> None:
        """Wait until the watchers delivered resourceVersion `rv` and the engine processed it."""
        wait_until(lambda: self.records.seen_rv(rv), timeout, f"a record at resourceVersion {rv}")
        assert self.pipeline.drain(10), "pipeline did not drain"

    def kill(self) -> None:
        """Like kill -9: nothing more leaves this replica, the Lease is left to expire."""
        self.delivered.open = False
        self.stop.set()
        for w in self.watchers:
            w.join(5)
        if self.elector is not None:
            self.elector.join(5)

    def close(self) -> None:
        self.stop.set()
        for w in self.watchers:
            w.join(5)
        if self.elector is not None:
            self.elector.join(5)
        self.pipeline.stop(5)
        self.api.close()

    def __enter__(self) -> "Stack":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()
