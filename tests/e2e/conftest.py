from datetime import datetime, timezone

import pytest

from tests.e2e.support import KEY
from tests.notifiers.receivers import FakeClock, WeComReceiver


@pytest.fixture
def wecom():
    """A WeCom robot receiver on loopback that knows the test key (its clock is real time)."""
    rx = WeComReceiver(FakeClock(datetime.now(timezone.utc)), keys=(KEY,)).start()
    yield rx
    rx.stop()


@pytest.fixture(autouse=True)
def _no_process_outlives_its_test(monkeypatch):
    """Every process an end-to-end test starts is killed when the test ends, however it ends: a
    failed wait or a timed-out stop must not leave a daemon running into the next test."""
    import subprocess

    started: list[subprocess.Popen] = []
    real = subprocess.Popen

    class Tracked(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            started.append(self)

    monkeypatch.setattr(subprocess, "Popen", Tracked)
    yield
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
