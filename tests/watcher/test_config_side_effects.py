"""Parsing (checking) a config changes nothing in the process: no secret registered, no notifier
put to work. The daemon registers Config.secrets once when it starts."""
import uuid

from notifiers.redact import redact
from watcher.config import parse_config


def test_parsing_a_config_registers_no_secret():
    token = "whsec-" + uuid.uuid4().hex
    cfg = parse_config(f"notifiers:\n  w: {{type: webhook, url: 'https://hooks.example.invalid/{token}'}}\n",
                       "c.yaml", {})
    assert any(token in s for s in cfg.secrets)  # collected once, by the config ...
    assert token in redact(f"POST /{token}")  # ... and not yet registered anywhere
