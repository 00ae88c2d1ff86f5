import io
import json
import logging

import pytest

from watcher.logsetup import setup_logging

SECRET_URL = "https://qyapi.example.invalid/cgi-bin/webhook/send?key=wk-9f8e7d6c5b4a"
PASSWORD = "es-pa55w0rd-xyz"


@pytest.fixture
def stream():
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.getLogger("elastic_transport").level)
    out = io.StringIO()
    yield out
    root.handlers[:], root.level = saved[0], saved[1]
    logging.getLogger("elastic_transport").setLevel(saved[2])


def test_known_secrets_and_credential_patterns_are_redacted_everywhere(stream):
    setup_logging("DEBUG", "text", secrets={SECRET_URL, PASSWORD}, stream=stream)
    log = logging.getLogger("kea.test")
    log.info("posting to %s", SECRET_URL)
    log.warning("auth failed with password %s", PASSWORD)
    logging.getLogger("urllib3.connectionpool").debug(
        "https://oapi.example.invalid:443 \"POST /robot/send?access_token=dt-123abc&timestamp=1&sign=abc%2B HTTP/1.1\" 200")
    logging.getLogger("x").info("feishu https://open.example.invalid/open-apis/bot/v2/hook/fs-0a1b2c3d")
    logging.getLogger("x").info("header Authorization: Bearer eyJhbGciOi.abc.def")
    try:
        raise RuntimeError(f"connection to {SECRET_URL} failed")
    except RuntimeError:
        log.exception("send failed")
    text = stream.getvalue()
    for leaked in ("wk-9f8e7d6c5b4a", PASSWORD, "dt-123abc", "sign=abc", "fs-0a1b2c3d", "eyJhbGciOi"):
        assert leaked not in text, leaked
    assert "RuntimeError" in text and "***" in text


def test_json_lines(stream):
    setup_logging("INFO", "json", stream=stream)
    logging.getLogger("kea.pipeline").info("alert decision rule=%s", "oom-killed")
    logging.getLogger("kea.pipeline").debug("not shown")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    doc = json.loads(lines[0])
    assert doc["level"] == "INFO" and doc["logger"] == "kea.pipeline" and doc["message"] == "alert decision rule=oom-killed"


def test_elastic_transport_chatter_is_held_back(stream):
    setup_logging("INFO", "text", stream=stream)
    logging.getLogger("elastic_transport.transport").info("POST http://es:9200/_bulk [status:200 duration:0.01s]")
    assert stream.getvalue() == ""
