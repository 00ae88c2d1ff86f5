"""Leader election with a coordination.k8s.io/v1 Lease: one replica sends, the others wait warm.

Our own small loop rather than `kubernetes.leaderelection`: that module's `run()` blocks, does
not stop the leader's work when leadership is lost, and calls `sys.exit()` on bad config.

The rules are client-go's (tools/leaderelection):
- A candidate GETs the Lease every `retry_period` (with jitter). It may take it when it is
  free (no holder: never created, or released) or expired. "Expired" is judged by the
  candidate's own monotonic clock: the record must not have changed for
  `leaseDurationSeconds` since this process last saw it change. Never by comparing the
  holder's `renewTime` with our wall clock: clocks of two nodes disagree.
- Writes carry the resourceVersion they read (optimistic concurrency): of two candidates,
  the apiserver lets one win and answers 409 to the other.
- The leader renews every `retry_period`. When it has not renewed for `renew_deadline`, or sees
  another holder, it stops leading at once (`on_stopped_leading`) — before the lease can
  expire for the others, since renew_deadline < lease_duration.
- On a graceful stop it releases: holderIdentity "" and leaseDurationSeconds 1, so a
  follower takes over within one retry period instead of a whole lease duration.

`on_started_leading(previous_renewal)` gets the old holder's last `renewTime` as read just
before the takeover (None when there was none): what the alert router needs to decide which
held alerts the old leader may not have sent. Both callbacks run in order on their own thread
(as client-go runs OnStartedLeading in a goroutine): a slow one — the router may query the
alert history — must not delay renewals past the renew deadline. Before the Lease is released,
`on_stopped_leading` has returned, so we stop sending before anyone else may start.
`annotations()` is written onto the Lease with every write of ours (renewals and the release):
the leader publishes there what its successor needs to know (the recently delivered ids, see
watcher/alerting.py); on takeover, the annotations of the Lease as the previous holder left it
are in `inherited_annotations` before `on_started_leading` runs.
RBAC: get, create, update on leases.
"""
from __future__ import annotations

import logging
import os
import queue
import random
import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable, Mapping, Optional

from notifiers.clock import utcnow
from watcher.kube.client import Conflict, KubeError, NotFound, Transport
from watcher.kube.stats import NO_LEASE_STATS, LeaseStats
from watcher.normalize import MalformedObject, parse_time

log = logging.getLogger("kea.kube")

SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
#: client-go's JitterFactor for candidates: retry_period × [1, 1.2).
JITTER = 0.2




def pod_namespace(default: str = "default") -> str:
    """The namespace the pod runs in (mounted service account), for an empty lease_namespace."""
    try:
        with open(SERVICE_ACCOUNT_NAMESPACE, encoding="utf-8") as f:
            return f.read().strip() or default
    except OSError:
        return os.environ.get("POD_NAMESPACE") or default


def micro_time(t: datetime) -> str:
    """metav1.MicroTime: RFC 3339 with microseconds, UTC."""
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    def __init__(self, api_client: Any, cfg: Any, *, identity: str,
                 on_started_leading: Callable[[Optional[datetime]], None],
                 on_stopped_leading: Callable[[], None], stop: threading.Event,
                 stats: LeaseStats = NO_LEASE_STATS,
                 clock: Callable[[], float] = time.monotonic, sleep: Optional[Callable[[float], Any]] = None,
                 wall_clock: Callable[[], datetime] = utcnow, release_on_stop: bool = True,
                 annotations: Callable[[], Mapping[str, str]] = dict) -> None:
        """`cfg`: `watcher.config.LeaderElection`. `release_on_stop=False` leaves the lease to
        expire when `stop` is set (what a crash looks like; for tests)."""
        if not identity:
            raise ValueError("leader election needs a non-empty identity")
        self.identity = identity
        self.name = cfg.lease_name
        self.namespace = cfg.lease_namespace or pod_namespace()
        self.lease_duration = cfg.lease_duration.total_seconds()
        self.renew_deadline = cfg.renew_deadline.total_seconds()
        self.retry_period = cfg.retry_period.total_seconds()
        if not 0 < self.retry_period < self.renew_deadline < self.lease_duration:
            raise ValueError("leader election needs retry_period < renew_deadline < lease_duration")
        self.on_started_leading, self.on_stopped_leading = on_started_leading, on_stopped_leading
        self.stop, self.clock, self.wall_clock = stop, clock, wall_clock
        self.stats = stats
        self.release_on_stop = release_on_stop
        self.annotations = annotations
        self.inherited_annotations: dict[str, str] = {}
        self._quit = threading.Event()
        self.sleep = sleep or self._wait
        self._transport = Transport(api_client)
        self._path = f"/apis/coordination.k8s.io/v1/namespaces/{self.namespace}/leases/{self.name}"
        self._lease: Optional[dict] = None          # last Lease object read or written
        self._observed: tuple = ()                   # (holder, renewTime, resourceVersion)
        self._observed_at = 0.0                      # clock() when _observed last changed
        self._last_renew = 0.0                       # clock() of our last successful write
        self._leading = False
        self._released = False
        self._lock = threading.Lock()
        self.previous_renewal: Optional[datetime] = None
        self._thread = threading.Thread(target=self._run, name="leader-election", daemon=True)
        self._callbacks: "queue.Queue[Optional[tuple[Callable[..., None], tuple]]]" = queue.Queue()
        self._callback_thread = threading.Thread(target=self._run_callbacks, name="leader-callbacks", daemon=True)

    # -- public --------------------------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        return self._leading

    @property
    def holder(self) -> str:
        """The holder last seen in the Lease ('' when free or not read yet)."""
        return self._observed[0] if self._observed else ""

    def start(self) -> None:
        self.stats.leader(False)
        self._callback_thread.start()
        self._thread.start()

    def join(self, timeout: Optional[float] = None) -> None:
        self._thread.join(timeout)

    def release(self, timeout: float = 5.0) -> None:
        """Stop competing; if we lead, stop leading and hand the Lease back. Idempotent."""
        self._quit.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        self._step_down("released")
        self._flush_callbacks(timeout)
        self._release()
        self._callbacks.put(None)

    # -- callbacks -----------------------------------------------------------------------------

    def _run_callbacks(self) -> None:
        while True:
            item = self._callbacks.get()
            try:
                if item is None:
                    return
                fn, args = item
                fn(*args)
            except Exception:
                log.exception("leader election: leadership callback failed")
            finally:
                self._callbacks.task_done()

    def _flush_callbacks(self, timeout: float) -> None:
        """Wait (bounded) until every queued callback has returned."""
        if not self._callback_thread.is_alive():
            return
        deadline = time.monotonic() + timeout
        while self._callbacks.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        if self._callbacks.unfinished_tasks:
            log.warning("leader election: leadership callbacks still running after %.0fs", timeout)

    # -- loop ----------------------------------------------------------------------------------

    def _wait(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not (self.stop.is_set() or self._quit.is_set()):
            left = deadline - time.monotonic()
            if left <= 0 or self.stop.wait(min(left, 0.1)):
                break

    def _stopping(self) -> bool:
        return self.stop.is_set() or self._quit.is_set()

    def _run(self) -> None:
        log.info("leader election: %s competing for lease %s/%s", self.identity, self.namespace, self.name)
        try:
            while not self._stopping():
                try:
                    if self._leading:
                        self._renew()
                    else:
                        self._try_acquire()
                except Exception:  # a bug must not end the loop (or leave us leading unchecked)
                    log.exception("leader election: unexpected error")
                if self._leading and self.clock() - self._last_renew >= self.renew_deadline:
                    self._step_down(f"could not renew for {self.renew_deadline:.0f}s")
                if not self._stopping():
                    jitter = 1.0 if self._leading else random.uniform(1.0, 1.0 + JITTER)
                    self.sleep(self.retry_period * jitter)
        finally:
            self._step_down("stopping")
            if self.release_on_stop and not self._quit.is_set():
                self._flush_callbacks(10.0)
                self._release()
            if not self._quit.is_set():
                self._callbacks.put(None)  # release() ends the callback thread otherwise

    def _timeout(self) -> float:
        # A renew must not hang past the renew deadline: bound each request by what is left.
        if self._leading:
            left = self.renew_deadline - (self.clock() - self._last_renew)
            return max(0.5, min(5.0, left))
        return max(1.0, min(5.0, self.retry_period * 2))

    def _get(self) -> Optional[dict]:
        try:
            lease = self._transport.json("GET", self._path, timeout=self._timeout())
        except NotFound:
            return None
        self._observe(lease)
        return lease

    def _observe(self, lease: dict) -> None:
        spec = lease.get("spec") or {}
        seen = (spec.get("holderIdentity") or "", spec.get("renewTime") or "",
                (lease.get("metadata") or {}).get("resourceVersion") or "")
        if seen != self._observed:
            self._observed, self._observed_at = seen, self.clock()
        self._lease = lease

    def _try_acquire(self) -> None:
        try:
            lease = self._get()
            now = self.wall_clock()
            if lease is None:
                body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                        "metadata": {"name": self.name, "namespace": self.namespace,
                                     "annotations": self._annotations()},
                        "spec": self._spec(now, acquire=now, transitions=0)}
                self.inherited_annotations = {}
                created = self._transport.json("POST", self._path.rsplit("/", 1)[0], body=body, timeout=self._timeout())
                self._won(created, previous=None)
                return
            spec = lease.get("spec") or {}
            holder = spec.get("holderIdentity") or ""
            duration = spec.get("leaseDurationSeconds") or self.lease_duration
            if holder and holder != self.identity and self.clock() < self._observed_at + duration:
                return  # held and not expired by our own observation
            ours = holder == self.identity
            transitions = int(spec.get("leaseTransitions") or 0) + (0 if ours else 1)
            acquire = _time(spec.get("acquireTime")) if ours else None
            previous = _time(spec.get("renewTime"))
            self.inherited_annotations = dict((lease.get("metadata") or {}).get("annotations") or {})
            updated = self._put(lease, self._spec(now, acquire=acquire or now, transitions=transitions))
            if holder and not ours:
                log.warning("leader election: took over lease %s from %s (last renewed %s)",
                            self.name, holder, spec.get("renewTime"))
            self._won(updated, previous=previous)
        except Conflict:
            log.debug("leader election: lost the race for lease %s", self.name)
        except KubeError as exc:
            log.warning("leader election: cannot read/acquire lease %s/%s: %s", self.namespace, self.name, exc)

    def _won(self, lease: dict, *, previous: Optional[datetime]) -> None:
        self._observe(lease)
        self._last_renew = self.clock()
        self.previous_renewal = previous
        with self._lock:
            if self._stopping():
                return
            self._leading = True
        log.info("leader election: %s is the leader (lease %s/%s)", self.identity, self.namespace, self.name)
        self.stats.leader(True)
        self._callbacks.put((self.on_started_leading, (previous,)))

    def _renew(self) -> None:
        try:
            lease = self._lease
            if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.identity:
                lease = self._get()
            if lease is not None and (lease.get("spec") or {}).get("holderIdentity") == self.identity:
                spec = lease["spec"]
                try:
                    updated = self._put(lease, {**spec, "renewTime": micro_time(self.wall_clock()),
                                                "leaseDurationSeconds": int(self.lease_duration)})
                except Conflict:
                    # Someone wrote since our last write: read again and see who holds it.
                    lease = self._get()
                    if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.identity:
                        self._step_down("another replica holds the lease")
                        return
                    updated = self._put(lease, {**lease["spec"], "renewTime": micro_time(self.wall_clock())})
                self._observe(updated)
                self._last_renew = self.clock()
                return
            self._step_down("another replica holds the lease" if lease else "the lease was deleted")
            return
        except KubeError as exc:
            log.warning("leader election: renew failed: %s", exc)

    def _put(self, lease: dict, spec: dict) -> dict:
        meta = lease.get("metadata") or {}
        body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace,
                             "resourceVersion": meta.get("resourceVersion"),
                             "annotations": self._annotations()},
                "spec": spec}
        return self._transport.json("PUT", self._path, body=body, timeout=self._timeout())

    def _annotations(self) -> dict[str, str]:
        try:
            return {str(k): str(v) for k, v in self.annotations().items()}
        except Exception:  # what we publish must never cost us the Lease
            log.exception("leader election: cannot compute the Lease annotations; writing none")
            return {}

    def _spec(self, now: datetime, *, acquire: datetime, transitions: int) -> dict:
        return {"holderIdentity": self.identity, "leaseDurationSeconds": int(self.lease_duration),
                "acquireTime": micro_time(acquire), "renewTime": micro_time(now),
                "leaseTransitions": transitions}

    def _step_down(self, why: str) -> None:
        with self._lock:
            if not self._leading:
                return
            self._leading = False
        log.warning("leader election: %s stopped leading: %s", self.identity, why)
        self.stats.leader(False)
        self._callbacks.put((self.on_stopped_leading, ()))

    def _release(self) -> None:
        """Hand the Lease back if we hold it (client-go's release: empty holder, 1 s)."""
        with self._lock:
            if self._released:
                return
            self._released = True
        if self._observed and self._observed[0] != self.identity:
            return  # the last read showed someone else (or nobody) holding it: nothing to hand back
        try:
            lease = self._transport.json("GET", self._path, timeout=5.0)
            spec = lease.get("spec") or {}
            if spec.get("holderIdentity") != self.identity:
                return
            now = micro_time(self.wall_clock())
            self._put(lease, {**spec, "holderIdentity": "", "leaseDurationSeconds": 1,
                              "renewTime": now, "acquireTime": now})
            log.info("leader election: released lease %s/%s", self.namespace, self.name)
        except NotFound:
            return
        except KubeError as exc:
            log.warning("leader election: could not release lease %s/%s (it will expire): %s",
                        self.namespace, self.name, exc)


def _time(value: Any) -> Optional[datetime]:
    try:
        return parse_time(value)
    except MalformedObject:
        return None
