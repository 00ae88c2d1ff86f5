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
