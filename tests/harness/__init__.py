"""Start and stop the real components the tests run against (kube-apiserver + etcd, Elasticsearch).

`.ci/run` sets KEA_REQUIRE_REAL=1: there a missing component fails the run instead of skipping.
"""
