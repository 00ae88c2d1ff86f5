"""Generic webhook: alert JSON, HMAC signature, idempotency key, templates, status codes."""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from notifiers.samples import sample_alert
from notifiers.webhook import signature


def test_posts_the_alert_json_signed(webhook_rx: Any, make_notifier: Any) -> None:
    alert = sample_alert("oom")
    assert make_notifier("webhook", webhook_rx.base).send_now(alert).ok
    body = webhook_rx.accepted[0].payload
    assert body["version"] == "1" and body["alerts"][0]["id"] == alert.id
    assert "templates" not in body["alerts"][0]


def test_wrong_hmac_secret_is_rejected_permanently(webhook_rx: Any, make_notifier: Any) -> None:
    result = make_notifier("webhook", webhook_rx.base, hmac_secret="another-secret-1").send_now(
        sample_alert("oom"))
    assert (result.kind, result.code) == ("permanent", "http_401")


def test_signature_recipe() -> None:
    assert signature("k", 10, b"{}") == \
        "sha256=" + __import__("hmac").new(b"k", b"10.{}", "sha256").hexdigest()


def test_idempotency_key_is_stable_for_the_same_alerts(webhook_rx: Any, make_notifier: Any
                                                       ) -> None:
    n = make_notifier("webhook", webhook_rx.base)
    n.send_now(sample_alert("oom"))
    n.send_now(sample_alert("oom"))
    n.send_now(sample_alert("unhealthy"))
    keys = [r.headers["X-Kea-Idempotency-Key"] for r in webhook_rx.accepted]
    assert keys[0] == keys[1] != keys[2]


def test_queued_alerts_share_one_body(make_notifier: Any, webhook_rx: Any) -> None:
    n = make_notifier("webhook", webhook_rx.base)
    built = n.build([sample_alert("oom"), sample_alert("unhealthy")])
    assert built.count == 2 and len(built.message.payload["alerts"]) == 2


def test_template_replaces_the_body(webhook_rx: Any, make_notifier: Any) -> None:
    n = make_notifier("webhook", webhook_rx.base, template='{"text": "{{ title }}"}',
                      headers={"X-Team": "ops"})
    assert n.send_now(sample_alert("oom")).ok
    received = webhook_rx.accepted[0]
    assert received.payload == {"text": "【告警】容器 OOMKilled"}
    assert received.headers["X-Team"] == "ops"


def test_rule_template_for_webhook_sends_alone(make_notifier: Any, webhook_rx: Any) -> None:
    n = make_notifier("webhook", webhook_rx.base)
    templated = replace(sample_alert("oom"), templates={"webhook": "{{ title }}"})
    assert n.build([templated, sample_alert("unhealthy")]).count == 1
    assert n.build([sample_alert("unhealthy"), templated]).count == 1


def test_json_template_values_cannot_break_out_of_their_string(webhook_rx: Any,
                                                               make_notifier: Any) -> None:
    message = 'a"b\\\n", "admin": true, "x": "'
    alert = sample_alert("oom")
    alert = replace(alert, fields=dict(alert.fields, message=message))
    n = make_notifier("webhook", webhook_rx.base, template='{"text": "{{ fields.message }}"}')
    assert n.send_now(alert).ok
    assert webhook_rx.accepted[0].payload == {"text": message}
