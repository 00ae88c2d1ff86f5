"""Fixtures for the real components, shared by every test package."""
from tests.harness.cluster import cluster_namespace, kube_cluster  # noqa: F401
from tests.harness.es import es_client, es_node, es_prefix  # noqa: F401
from tests.harness.kube import kube_control_plane, kube_namespace  # noqa: F401
