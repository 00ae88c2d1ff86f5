"""Redaction of credentials in free text."""
from __future__ import annotations

from notifiers.redact import redact, register_secrets


def test_query_credentials_are_masked() -> None:
    text = redact("POST /cgi-bin/webhook/send?key=abc123&debug=1 and ?access_token=t0k&sign=s%2B")
    assert text == "POST /cgi-bin/webhook/send?key=***&debug=1 and ?access_token=***&sign=***"


def test_feishu_hook_token_is_masked() -> None:
    assert redact("url: /open-apis/bot/v2/hook/6c2e-9b1a?x") == "url: /open-apis/bot/v2/hook/***?x"


def test_basic_auth_in_a_url_is_masked() -> None:
    assert redact("https://bob:pw@hooks.example.com/x") == "https://***@hooks.example.com/x"


def test_registered_literals_are_masked_anywhere() -> None:
    register_secrets(["SEC-literal-xyz-123", "short"])
    assert redact("secret SEC-literal-xyz-123 in a message; short stays") == \
        "secret *** in a message; short stays"


def test_our_own_key_fields_in_log_lines_stay_readable() -> None:
    line = "alert decision rule=oom-killed key=shop/web-1/app status=firing"
    assert redact(line) == line
    assert redact("retry: token=abc and password=hunter22") == "retry: token=abc and password=***"
    assert redact("https://x.invalid/send?token=abc&sign=s") == "https://x.invalid/send?token=***&sign=***"
