"""Start and stop the real components the tests run against (kube-apiserver + etcd, Elasticsearch).

`.ci/run` sets KEA_REQUIRE_REAL=1: there a missing component fails the run instead of skipping.
"""
import os

import pytest


def unavailable(reason: str):
    """Skip the test, unless KEA_REQUIRE_REAL=1 (CI): then a missing real component is a failure."""
    if os.environ.get("KEA_REQUIRE_REAL") == "1":
        pytest.fail(f"KEA_REQUIRE_REAL=1 but {reason}", pytrace=False)
    pytest.skip(reason)
