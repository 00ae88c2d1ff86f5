"""WeCom 93000 (invalid key) is a configuration error: reported, dead-lettered, never retried."""
from __future__ import annotations

from typing import Any

import pytest

from notifiers import Outbox
from notifiers.samples import sample_alert
from tests.notifiers.conftest import NAME, WRONG_KEY, url_for, wait_for


@pytest.fixture
def rejected(wecom_rx: Any, make_notifier: Any, make_dispatcher: Any, outcomes: Any,
             tmp_path: Any, clock: Any) -> Any:
    notifier = make_notifier("wecom", name=NAME, base=wecom_rx.base,
                             url=url_for("wecom", wecom_rx.base, credential=WRONG_KEY))
    outbox = Outbox(tmp_path / "ob", clock=clock.now)
    dispatcher = make_dispatcher({NAME: notifier}, outbox=outbox)
    alert = sample_alert("oom", now=clock.now())
    dispatcher.submit(alert)
    dispatcher.start()
    wait_for(lambda: outcomes.of("failed"), what="the failure outcome")
    dispatcher.stop(1.0)
    return dispatcher, outbox, alert


def test_93000_is_sent_once_and_not_retried(rejected: Any, wecom_rx: Any, outcomes: Any) -> None:
    assert wecom_rx.codes() == [93000]
    assert outcomes.of("retried") == []


def test_93000_is_reported_with_its_meaning(rejected: Any, outcomes: Any,
                                            caplog: pytest.LogCaptureFixture) -> None:
    (failed,) = outcomes.of("failed")
    assert failed.code == "93000" and "invalid webhook" in failed.detail
    assert WRONG_KEY not in failed.detail
    records = caplog.get_records("setup")  # the fixture did the sending
    assert any(r.levelname == "ERROR" and "93000" in r.getMessage() for r in records)


def test_rejected_entry_goes_to_the_dead_letters_and_stays_there(rejected: Any) -> None:
    dispatcher, outbox, alert = rejected
    assert dispatcher.pending() == 0
    assert outbox.failed_ids() == [f"{NAME}|{alert.id}"]
    assert dispatcher.submit(alert) == []
