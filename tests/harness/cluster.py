"""A real cluster for tests: the ControlPlane plus the real controllers, the real scheduler and a
fleet of fake nodes played by kwok.

``tests/harness/kube.py`` alone proves the daemon reads what a test writes; here Deployments,
ReplicaSets, EndpointSlices and Events are written by kube-controller-manager and kube-scheduler
built from the same pinned Kubernetes, and kwok plays the kubelets: it makes Pods Running/Ready
and, through the Stages in ``tests/harness/kwok/``, OOMKills, liveness kills, crash loops and
readiness failures when a test labels a Pod (see faults.yaml). Nodes are ours: ``Cluster``
creates them with an annotation kwok manages; ``stop_heartbeat`` takes a node's Lease away from
kwok so the node lifecycle controller marks it NotReady and evicts its pods.

All five processes listen on loopback only, on free ports, and die with the test process.
"""

from __future__ import annotations

import datetime as _dt
import os
import ssl
import warnings
from pathlib import Path
from typing import Any, Iterable

import pytest
import urllib3

from tests.harness import unavailable
from tests.harness.kube import (
    BUILD_SCRIPT,
    BinariesMissing,
    ControlPlane,
    Proc,
    create_namespace,
    ensure_binaries,
    free_ports,
    request,
    wait_up,
)
from tests.harness.kube import wait_until as wait  # noqa: F401  (the name the scenarios and bench/ use)

KWOK_STAGES = Path(__file__).resolve().parent / "kwok"
NODE_ANNOTATION = "kwok.x-k8s.io/node"
DEAD_KUBELET = "kea-tests-dead-kubelet"  # a Lease holder kwok will not take over
CLUSTER_BINARIES = ("kube-controller-manager", "kube-scheduler", "kwok")
# Cloud controllers need a cloud provider; the rest is what a kubeadm cluster runs.
CONTROLLERS = "*,-service-lb-controller,-node-route-controller,-cloud-node-lifecycle-controller"


def node_body(name: str, *, cpu: str = "32", memory: str = "256Gi", pods: int = 110,
              labels: dict | None = None) -> dict:
    """A Node kwok manages (the annotation), with room for ``pods`` pods."""
    capacity = {"cpu": cpu, "memory": memory, "pods": str(pods)}
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "annotations": {NODE_ANNOTATION: "fake"},
                     "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                "kubernetes.io/arch": "amd64", "type": "kwok", **(labels or {})}},
        "status": {"capacity": capacity, "allocatable": capacity},
    }


class Cluster:
    """etcd + kube-apiserver + kube-controller-manager + kube-scheduler + kwok with ``nodes``
    fake nodes named ``kwok-node-<i>``.

    ``node_monitor_grace`` is how long a node may go without a heartbeat before the node
    lifecycle controller calls it NotReady (40 s upstream; short here so tests stay quick).
    ``api_qps`` is the controllers' and the scheduler's client rate limit (kwok has none);
    ``quiet`` logs warnings only (kwok logs every patch at INFO: CPU and disk at scale).
    """

    def __init__(self, nodes: int = 3, binaries: Path | None = None, *,
                 node_monitor_grace: str = "10s", api_qps: int = 500,
                 start_timeout: float = 180.0, quiet: bool = False):
        self.control_plane = ControlPlane(binaries, watch_cache=True, start_timeout=start_timeout)
        self.bin = self.control_plane.bin
        self.nodes = nodes
        self.node_monitor_grace = node_monitor_grace
        self.api_qps = api_qps
        self.start_timeout = start_timeout
        self.quiet = quiet
        self.procs: dict[str, Proc] = {}
        self._ports: dict[str, int] = {}
        self._http = urllib3.PoolManager(cert_reqs=ssl.CERT_NONE, assert_hostname=False,
                                         retries=False)

    # -- lifecycle
    def start(self) -> "Cluster":
        for name in CLUSTER_BINARIES:
            if not os.access(self.bin / name, os.X_OK):
                raise BinariesMissing(f"{self.bin / name} missing; run {BUILD_SCRIPT}")
        self.control_plane.start()
        try:
            self._ports = dict(zip(("controller-manager", "scheduler", "kwok"), free_ports(3)))
            self._start_controller_manager()
            self._start_scheduler()
            self._start_kwok()
            self.add_nodes(range(self.nodes))
            self.wait_nodes_ready(self.nodes)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop kwok, the scheduler and the controllers, then the control plane."""
        for name in ("kwok", "scheduler", "controller-manager"):
            proc = self.procs.pop(name, None)
            if proc:
                proc.stop(grace=5.0)
        self.control_plane.stop()

    def __enter__(self) -> "Cluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def dir(self) -> Path:
        assert self.control_plane.dir, "start() first"
        return self.control_plane.dir

    @property
    def kubeconfig_path(self) -> Path:
        return self.control_plane.kubeconfig_path

    def api_client(self):
        return self.control_plane.api_client()

    def _healthz(self, component: str) -> bool:
        with warnings.catch_warnings():  # their self-signed serving certs: a liveness probe only
            warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
            r = self._http.request("GET", f"https://127.0.0.1:{self._ports[component]}/healthz",
                                   timeout=2.0)
        return r.status == 200

    def _kube_common(self, component: str) -> list[str]:
        kc = str(self.kubeconfig_path)
        return [f"--kubeconfig={kc}", f"--authentication-kubeconfig={kc}",
                f"--authorization-kubeconfig={kc}", "--leader-elect=false",
                "--bind-address=127.0.0.1", f"--secure-port={self._ports[component]}",
                f"--kube-api-qps={self.api_qps}", f"--kube-api-burst={2 * self.api_qps}",
                f"--v={0 if self.quiet else 1}"]

    def _start_controller_manager(self) -> None:
        cp = self.control_plane
        proc = self.procs["controller-manager"] = Proc("kube-controller-manager", [
            str(self.bin / "kube-controller-manager"), *self._kube_common("controller-manager"),
            f"--controllers={CONTROLLERS}", "--use-service-account-credentials=false",
            f"--service-account-private-key-file={self.dir / 'sa.key'}",
            f"--root-ca-file={cp.ca_path}", "--allocate-node-cidrs=false",
            f"--node-monitor-grace-period={self.node_monitor_grace}", "--node-monitor-period=2s",
            "--concurrent-deployment-syncs=10", "--concurrent-replicaset-syncs=10",
            "--concurrent-endpoint-syncs=10", "--concurrent-service-endpoint-syncs=10",
        ], self.dir / "controller-manager.log")
        wait_up(lambda: self._healthz("controller-manager"), proc, "healthy (/healthz)",
                    self.start_timeout)

    def _start_scheduler(self) -> None:
        proc = self.procs["scheduler"] = Proc("kube-scheduler", [
            str(self.bin / "kube-scheduler"), *self._kube_common("scheduler"),
        ], self.dir / "scheduler.log")
        wait_up(lambda: self._healthz("scheduler"), proc, "healthy (/healthz)",
                    self.start_timeout)

    def _start_kwok(self) -> None:
        stages = sorted(KWOK_STAGES.glob("*.yaml"))
        proc = self.procs["kwok"] = Proc("kwok", [
            str(self.bin / "kwok"), f"--kubeconfig={self.kubeconfig_path}",
            *(f"--config={p}" for p in stages),
            f"--manage-nodes-with-annotation-selector={NODE_ANNOTATION}=fake",
            # kwok renews each Lease every duration/4 = 2 s: a loaded machine must miss five
            # renewals in a row before a node_monitor_grace of 10 s calls the node NotReady.
            "--cidr=10.64.0.0/12", "--node-ip=10.63.0.1", "--node-lease-duration-seconds=8",
            f"--server-address=127.0.0.1:{self._ports['kwok']}",
            f"--v={'WARN' if self.quiet else 'INFO'}",
        ], self.dir / "kwok.log")
        wait_up(self._kwok_healthy, proc, "healthy (/healthz)", self.start_timeout)

    def _kwok_healthy(self) -> bool:
        r = self._http.request("GET", f"http://127.0.0.1:{self._ports['kwok']}/healthz", timeout=2.0)
        return r.status == 200

    # -- the fleet
    def add_nodes(self, indices: Iterable[int], **resources: Any) -> None:
        for i in indices:
            self.add_node(f"kwok-node-{i}", **resources)

    def add_node(self, name: str, **resources: Any) -> None:
        """Create a Node kwok will manage (see ``node_body`` for ``resources``)."""
        with self.api_client() as api:
            request(api, "POST", "/api/v1/nodes", node_body(name, **resources))

    def node_ready(self, name: str) -> bool:
        """Ready, and the node lifecycle controller has lifted its not-ready taints."""
        with self.api_client() as api:
            node = request(api, "GET", f"/api/v1/nodes/{name}")
        return _condition(node, "Ready") == "True" and not node["spec"].get("taints")

    def nodes_ready(self) -> int:
        with self.api_client() as api:
            items = request(api, "GET", "/api/v1/nodes")["items"]
        return sum(1 for n in items if _condition(n, "Ready") == "True")

    def wait_nodes_ready(self, n: int, timeout: float | None = None) -> None:
        wait_up(lambda: self.nodes_ready() >= n, self.procs["kwok"], f"{n} nodes Ready",
                    timeout or self.start_timeout)

    def stop_heartbeat(self, node: str) -> None:
        """Make ``node`` stop heartbeating, as when its kubelet dies: its Lease is handed to
        another holder for a day, so kwok (which renews only Leases it holds or that expired)
        stops renewing it and stops writing the node's and its pods' status. After
        ``node_monitor_grace`` the node lifecycle controller marks it Unknown, taints it
        unreachable and evicts its pods (taint-based eviction)."""
        now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        with self.api_client() as api:
            request(api, "PATCH", f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{node}",
                    {"spec": {"holderIdentity": DEAD_KUBELET, "leaseDurationSeconds": 86400,
                              "renewTime": now}},
                    content_type="application/merge-patch+json")

    def log(self, component: str) -> str:
        """The log of 'controller-manager', 'scheduler' or 'kwok' so far."""
        return (self.dir / f"{component}.log").read_text(errors="replace")


def _condition(obj: dict, kind: str) -> str | None:
    for c in obj.get("status", {}).get("conditions") or ():
        if c.get("type") == kind:
            return c.get("status")
    return None


# ---------------------------------------------------------------- workloads


def deployment(name: str, replicas: int, *, labels: dict | None = None,
               max_unavailable: int | str = 0, max_surge: int | str = 1,
               containers: Iterable[str] = ("app",), image: str = "registry.example/app:1",
               annotations: dict | None = None, grace_seconds: int = 1,
               min_ready_seconds: int = 0, pod_spec: dict | None = None) -> dict:
    """A Deployment whose pods carry ``app: <name>`` (plus ``labels``) and tolerate nothing
    special; kwok runs them on any fake node."""
    match = {"app": name}
    spec = {
        "containers": [{"name": c, "image": image,
                        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"},
                                      "limits": {"memory": "64Mi"}}} for c in containers],
        "terminationGracePeriodSeconds": grace_seconds,
        **(pod_spec or {}),
    }
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {
            "replicas": replicas, "minReadySeconds": min_ready_seconds,
            "selector": {"matchLabels": match},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {
                "maxUnavailable": max_unavailable, "maxSurge": max_surge}},
            "template": {"metadata": {"labels": {**match, **(labels or {})},
                                      "annotations": annotations or {}},
                         "spec": spec},
        },
    }


def node_pool(cluster, ns: str, size: int = 2) -> list[str]:
    """`size` fresh kwok nodes labelled `pool=<ns>`, Ready: a test can stop one's heartbeat
    without touching anybody else's pods."""
    pool = [f"kwok-node-{ns}-{i}" for i in range(size)]
    for node in pool:
        cluster.add_node(node, labels={"pool": ns})
    try:
        wait(lambda: all(cluster.node_ready(n) for n in pool), timeout=30, what="the nodes Ready")
    except AssertionError:
        with cluster.api_client() as api:
            for node in pool:
                request(api, "DELETE", f"/api/v1/nodes/{node}")
        raise
    return pool


def one_per_node(ns: str, app: str, *, evict_after: int = 15) -> dict:
    """A pod spec for `node_pool`'s nodes: one pod of `app` per node (a tainted, dead node does
    not count, so a replacement may double up), evicted `evict_after` s after its node is
    unreachable (the default is 300 s: long enough for a NotReady endpoint to outlast `for`,
    short enough for a test)."""
    tolerations = [{"key": f"node.kubernetes.io/{t}", "operator": "Exists", "effect": "NoExecute",
                    "tolerationSeconds": evict_after} for t in ("not-ready", "unreachable")]
    spread = [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule",
               "nodeTaintsPolicy": "Honor", "labelSelector": {"matchLabels": {"app": app}}}]
    return {"nodeSelector": {"pool": ns}, "tolerations": tolerations, "topologySpreadConstraints": spread}


def service(name: str, port: int = 80) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": name}, "ports": [{"port": port, "targetPort": port}]}}


def create(api, ns: str, body: dict) -> dict:
    """POST a namespaced object of a core or apps kind."""
    return request(api, "POST", _collection(ns, body), body)


def _collection(ns: str, body: dict) -> str:
    group_version = body["apiVersion"]
    prefix = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
    return f"{prefix}/namespaces/{ns}/{body['kind'].lower()}s"


def patch(api, path: str, body: dict) -> dict:
    """A JSON merge patch."""
    return request(api, "PATCH", path, body, content_type="application/merge-patch+json")


def scale(api, ns: str, name: str, replicas: int) -> dict:
    return patch(api, f"/apis/apps/v1/namespaces/{ns}/deployments/{name}",
                 {"spec": {"replicas": replicas}})


def pods(api, ns: str, selector: str = "") -> list[dict]:
    query = {"labelSelector": selector} if selector else None
    return request(api, "GET", f"/api/v1/namespaces/{ns}/pods", query=query)["items"]


def ready_pods(api, ns: str, selector: str = "") -> list[dict]:
    return [p for p in pods(api, ns, selector)
            if not p["metadata"].get("deletionTimestamp") and _condition(p, "Ready") == "True"]


def rollout_complete(api, ns: str, name: str) -> bool:
    """What `kubectl rollout status` waits for: every replica updated, available, no old ones."""
    d = request(api, "GET", f"/apis/apps/v1/namespaces/{ns}/deployments/{name}")
    want, st = d["spec"]["replicas"], d.get("status", {})
    return (st.get("observedGeneration", 0) >= d["metadata"]["generation"]
            and st.get("updatedReplicas", 0) == want and st.get("availableReplicas", 0) == want
            and st.get("replicas", 0) == want)


def ready_endpoints(api, ns: str, service_name: str) -> int:
    """Ready, non-terminating endpoints over the Service's EndpointSlices."""
    slices = request(api, "GET", f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices",
                     query={"labelSelector": f"kubernetes.io/service-name={service_name}"})
    return sum(1 for s in slices["items"] for e in s.get("endpoints") or ()
               if (e.get("conditions") or {}).get("ready"))


def inject(api, ns: str, pod: str, **labels: str | None) -> dict:
    """Set fault labels on a Pod for the kwok Stages (faults.yaml), e.g.
    ``inject(api, ns, p, **{"kea.test/fault": "oom"})``; ``None`` removes a label."""
    return patch(api, f"/api/v1/namespaces/{ns}/pods/{pod}", {"metadata": {"labels": labels}})


HOLD = "kea.test/hold"  # a finalizer nobody removes but the test: kwok deletes only pods without any


def hold(api, ns: str, pod: str) -> dict:
    """Keep ``pod`` Terminating once it is deleted, until ``release``: a finalizer (kwok's
    pod-delete Stage, like the kubelet, waits for the finalizers to go)."""
    return patch(api, f"/api/v1/namespaces/{ns}/pods/{pod}", {"metadata": {"finalizers": [HOLD]}})


def release(api, ns: str, pod: str) -> None:
    """Drop the finalizers ``hold`` set (a Terminating pod then goes); a pod already gone is fine."""
    from kubernetes.client import ApiException

    try:
        patch(api, f"/api/v1/namespaces/{ns}/pods/{pod}", {"metadata": {"finalizers": None}})
    except ApiException as e:
        if e.status != 404:
            raise


def oom(api, ns: str, pod: str) -> dict:
    """OOMKill the Pod's containers once (kwok writes the status; restart follows)."""
    return inject(api, ns, pod, **{"kea.test/fault": "oom"})


def restart_counts(pod: dict) -> dict[str, int]:
    return {c["name"]: c.get("restartCount", 0)
            for c in pod.get("status", {}).get("containerStatuses") or ()}


# ---------------------------------------------------------------- pytest fixtures


@pytest.fixture(scope="session")
def kube_cluster():
    """A running Cluster with 3 fake nodes for the session. Builds the binaries if needed;
    without Go the tests are skipped, or failed when KEA_REQUIRE_REAL=1 (as in CI)."""
    try:
        binaries = ensure_binaries()
    except BinariesMissing as e:
        unavailable(f"cluster binaries not built and Go not installed: {e}")
    missing = [n for n in CLUSTER_BINARIES if not os.access(binaries / n, os.X_OK)]
    if missing:
        unavailable(f"{', '.join(missing)} not in {binaries}: run {BUILD_SCRIPT}")
    with Cluster(3, binaries) as cluster:
        yield cluster


@pytest.fixture
def cluster_namespace(kube_cluster):
    """A fresh namespace ``t-<random>`` in the cluster; the namespace controller runs here, so
    it is really deleted afterwards (not waited for)."""
    with kube_cluster.api_client() as api:
        ns = create_namespace(api)
        wait(lambda: _has_default_sa(api, ns), timeout=60, what=f"serviceaccount default in {ns}")
        yield ns
        try:
            request(api, "DELETE", f"/api/v1/namespaces/{ns}")
        except Exception:
            pass


def _has_default_sa(api, ns: str) -> bool:
    from kubernetes.client import ApiException

    try:
        request(api, "GET", f"/api/v1/namespaces/{ns}/serviceaccounts/default")
        return True
    except ApiException:
        return False
