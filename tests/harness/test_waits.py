"""The harness's waits for a component to come up, without starting one: a probe that fails
the way a loaded apiserver fails (an error status, a refused connection) means "not yet", and a
component that exits ends the wait at once with its log."""

import sys

import pytest
from kubernetes.client import ApiException

from tests.harness import kube


class _Answers:
    """A probe that fails with each of ``failures`` in turn, then succeeds."""

    def __init__(self, *failures: BaseException):
        self.failures, self.calls = list(failures), 0

    def __call__(self) -> bool:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return True


@pytest.fixture
def sleeper(tmp_path):
    proc = kube.Proc("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "sleeper.log")
    yield proc
    proc.stop(grace=1.0)


def test_a_probe_answered_with_an_error_status_is_tried_again(sleeper):
    busy = ApiException(status=503, reason="Service Unavailable")
    throttled = ApiException(status=429, reason="Too Many Requests")
    probe = _Answers(busy, ConnectionRefusedError(), throttled)
    kube.wait_up(probe, sleeper, "ready", timeout=30)
    assert probe.calls == 4


def test_a_component_that_exits_ends_the_wait_with_its_log(tmp_path):
    proc = kube.Proc("quitter", [sys.executable, "-c", "print('no such flag'); raise SystemExit(3)"],
                     tmp_path / "quitter.log")
    proc.popen.wait(10)
    with pytest.raises(RuntimeError, match=r"quitter exited with 3 before ready(.|\n)*no such flag"):
        kube.wait_up(lambda: False, proc, "ready", timeout=30)


def test_a_probe_never_answering_fails_after_the_timeout_with_the_log(sleeper):
    with pytest.raises(RuntimeError, match="sleeper not ready after 1s"):
        kube.wait_up(lambda: False, sleeper, "ready", timeout=1)


def test_wait_until_returns_the_value_or_names_what_it_waited_for():
    values = iter([0, None, "done"])
    assert kube.wait_until(lambda: next(values), timeout=5, what="x", interval=0.01) == "done"
    with pytest.raises(AssertionError, match="waiting for the moon"):
        kube.wait_until(lambda: False, timeout=0.1, what="the moon", interval=0.01)
