"""The conformance suite every platform runs: the code table (retry / throttle / permanent),
byte limits against a receiver that enforces them, and no secret in results or logs."""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

import pytest

from notifiers.samples import sample_alert
from tests.notifiers.conftest import SECRETS
from tests.notifiers.receivers import free_port


@dataclass(frozen=True)
class Case:
    platform: str
    rx: str
    error_status: int
    """HTTP status the platform uses for error answers."""
    code_key: str
    retry: tuple[int, ...]
    throttle: tuple[tuple[int, float], ...]
    """(code, minimum pause in seconds)"""
    permanent: tuple[int, ...]
    limit: int
    """Content bytes the receiver accepts (0: not a content-limited platform)."""

    def body(self, code: int) -> Any:
        if self.platform == "webhook":
            return {"error": "scripted"}
        msg = "msg" if self.code_key == "code" else "errmsg"
        return {self.code_key: code, msg: "scripted"}

    def status(self, code: int) -> int:
        return code if self.platform == "webhook" else self.error_status


CASES = [
    Case("wecom", "wecom_rx", 200, "errcode", retry=(-1,), throttle=((45009, 60.0),),
         permanent=(93000, 40008, 40058), limit=4096),
    Case("dingtalk", "ding_rx", 200, "errcode", retry=(-1,),
         throttle=((130101, 600.0), (90030, 60.0)), permanent=(310000, 300001, 460101),
         limit=4000),
    Case("feishu", "feishu_rx", 400, "code", retry=(2200,),
         throttle=((9499, 1.0), (11232, 1.0)), permanent=(19021, 19024, 19001), limit=18000),
    Case("webhook", "webhook_rx", 0, "", retry=(500, 502, 503, 408), throttle=((429, 1.0),),
         permanent=(400, 401, 404), limit=0),
]
IDS = [c.platform for c in CASES]


@pytest.fixture(params=CASES, ids=IDS)
def case(request: pytest.FixtureRequest) -> Case:
    return request.param


@pytest.fixture
def rx(case: Case, request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(case.rx)


@pytest.fixture
def notifier(case: Case, rx: Any, make_notifier: Any) -> Any:
    return make_notifier(case.platform, rx.base)


def _pairs(kind: str) -> list[Any]:
    out = []
    for c in CASES:
        for item in getattr(c, kind):
            code = item[0] if isinstance(item, tuple) else item
            out.append(pytest.param(c, item, id=f"{c.platform}-{code}"))
    return out


def test_accepted_message_is_ok(notifier: Any, rx: Any) -> None:
    result = notifier.send_now(sample_alert("oom"))
    assert result.ok, result
    assert len(rx.accepted) == 1


@pytest.mark.parametrize("case,code", _pairs("retry"))
def test_transient_codes_are_retryable(notifier: Any, rx: Any, case: Case, code: int) -> None:
    rx.script(case.status(code), case.body(code))
    result = notifier.send_now(sample_alert("oom"))
    assert (result.kind, result.code) == ("retry", str(code) if case.platform != "webhook"
                                          else f"http_{code}")


@pytest.mark.parametrize("case,item", _pairs("throttle"))
def test_rate_limit_codes_pause_the_robot(notifier: Any, rx: Any, case: Case,
                                          item: tuple[int, float]) -> None:
    code, min_pause = item
    rx.script(case.status(code), case.body(code))
    result = notifier.send_now(sample_alert("oom"))
    assert result.kind == "throttle"
    assert result.retry_after is not None and result.retry_after >= min_pause


@pytest.mark.parametrize("case,code", _pairs("permanent"))
def test_configuration_errors_are_permanent(notifier: Any, rx: Any, case: Case,
                                            code: int) -> None:
    rx.script(case.status(code), case.body(code))
    assert notifier.send_now(sample_alert("oom")).kind == "permanent"


def test_unknown_code_is_permanent_and_logged_loudly(notifier: Any, rx: Any, case: Case,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    code = 418 if case.platform == "webhook" else 777777
    rx.script(case.status(code), case.body(code))
    result = notifier.send_now(sample_alert("oom"))
    assert result.kind == "permanent"
    if case.platform != "webhook":
        assert any(r.levelname == "ERROR" and "777777" in r.getMessage() for r in caplog.records)


def test_error_page_from_a_proxy_is_retried(notifier: Any, rx: Any) -> None:
    rx.script(502, "<html><body>502 Bad Gateway</body></html>")
    result = notifier.send_now(sample_alert("oom"))
    assert (result.kind, result.code) == ("retry", "http_502")


def test_connection_refused_is_retryable_and_names_no_secret(case: Case, make_notifier: Any
                                                            ) -> None:
    notifier = make_notifier(case.platform, f"http://127.0.0.1:{free_port()}")
    result = notifier.send_now(sample_alert("oom"))
    assert (result.kind, result.code) == ("retry", "connection")
    text = f"{result} {result.body} {result.message}"
    assert "127.0.0.1" in text  # the error is still useful...
    assert not [s for s in SECRETS if s in text]  # ...but redacted


@pytest.mark.parametrize("case", [c for c in CASES if c.limit], ids=[c.platform for c in CASES
                                                                      if c.limit])
def test_oversized_alert_is_cut_to_the_platform_limit(notifier: Any, rx: Any, case: Case) -> None:
    alert = sample_alert("oom")
    size = max(6000, case.limit + 2000)  # 6,000 bytes for WeCom, more where more is allowed
    alert = replace(alert, fields=dict(alert.fields, message="内存" * (size // 6)))
    assert len(alert.fields["message"].encode()) >= size - 6
    result = notifier.send_now(alert)
    assert result.ok, result
    text = rx.text_of(rx.accepted[0].payload)
    assert len(text.encode("utf-8")) <= case.limit
    assert "已截断" in text


def test_results_of_a_rejection_name_no_secret(notifier: Any, rx: Any, case: Case) -> None:
    code = case.permanent[0]
    rx.script(case.status(code), case.body(code))
    result = notifier.send_now(sample_alert("oom"))
    text = f"{result} {result.body} {result.message} {notifier!r}"
    assert not [s for s in SECRETS if s in text]


def test_a_hostile_message_adds_no_line_link_or_mention(notifier: Any, rx: Any,
                                                       case: Case) -> None:
    from tests.notifiers.hostile import NOW, hostile_alert
    benign = sample_alert("oom", now=NOW)
    benign = replace(benign, fields=dict(benign.fields, message="plain"))
    assert notifier.send_now(benign).ok and notifier.send_now(hostile_alert()).ok
    plain, hostile = (rx.text_of(r.payload) for r in rx.accepted)
    if case.platform == "webhook":  # the alert JSON: the receiver's own business to render
        assert json.loads(hostile)["alerts"][0]["fields"]["message"].startswith("x\n【恢复】")
        return
    assert hostile.count("\n") == plain.count("\n")
    assert "://" not in hostile and "<@all>" not in hostile and "<at id=all" not in hostile
