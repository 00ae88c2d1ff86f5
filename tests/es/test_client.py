"""build_client: hosts, auth from env/file reaching the server, TLS, timeouts, no secret leaks.

The embedded node has no security module, so authentication itself is not tested; instead a
local HTTP server stands in for Elasticsearch and shows what the client sends."""
import base64
import logging

import pytest
from elastic_transport import ConnectionError as EsConnectionError

from watcher.config import parse_config
from watcher.es.client import EsConfigError, build_client, client_kwargs, describe, redact_url

API_KEY = "a2V5LWlkOnN1cGVyLXNlY3JldC1hcGkta2V5"
PASSWORD = "hunter2-very-secret"
ES_HEADERS = {"X-Elastic-Product": "Elasticsearch"}
INFO = {"name": "n", "cluster_name": "c", "version": {"number": "8.16.6"}, "tagline": "You Know, for Search"}


def es_cfg(text: str, env: dict | None = None):
    return parse_config(text, "test.yaml", env or {}).elasticsearch


def test_api_key_from_env_reaches_the_server(httpserver):
    httpserver.expect_request("/").respond_with_json(INFO, headers=ES_HEADERS)
    cfg = es_cfg(f"elasticsearch:\n  hosts: [{httpserver.url_for('/')}]\n  api_key: ${{ES_KEY}}\n", {"ES_KEY": API_KEY})
    client = build_client(cfg)
    assert client.info()["version"]["number"] == "8.16.6"
    (req, _), = httpserver.log
    assert req.headers["Authorization"] == f"ApiKey {API_KEY}"


def test_basic_auth_password_from_file_reaches_the_server(httpserver, tmp_path):
    (tmp_path / "pw").write_text(PASSWORD + "\n")
    httpserver.expect_request("/").respond_with_json(INFO, headers=ES_HEADERS)
    cfg = es_cfg(f"elasticsearch:\n  hosts: [{httpserver.url_for('/')}]\n  username: kea\n"
                 f"  password_file: {tmp_path / 'pw'}\n")
    build_client(cfg).info()
    (req, _), = httpserver.log
    assert req.headers["Authorization"] == "Basic " + base64.b64encode(f"kea:{PASSWORD}".encode()).decode()


def test_several_hosts_timeouts_and_sniffing_off_by_default():
    cfg = es_cfg("elasticsearch:\n  hosts: [http://es-1:9200, http://es-2:9200]\n  request_timeout: 7s\n")
    client = build_client(cfg)
    nodes = client.transport.node_pool.all()
    assert sorted(n.config.host for n in nodes) == ["es-1", "es-2"]
    kw = client_kwargs(cfg)
    assert kw["request_timeout"] == 7 and client._request_timeout == 7  # per request, not per node
    assert kw["sniff_on_start"] is False and kw["sniff_on_node_failure"] is False
    assert kw["retry_on_timeout"] is True
    assert "api_key" not in kw and "basic_auth" not in kw


def test_tls_verification_on_by_default_with_ca_bundle(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    cfg = es_cfg(f"elasticsearch:\n  hosts: [https://es:9200]\n  ca_certs: {ca}\n")
    kw = client_kwargs(cfg)
    assert kw["verify_certs"] is True and kw["ca_certs"] == str(ca)


def test_tls_verification_can_be_turned_off_with_a_warning(caplog):
    cfg = es_cfg("elasticsearch:\n  hosts: [https://es:9200]\n  verify_certs: false\n")
    with caplog.at_level(logging.WARNING, logger="kea.es"):
        kw = client_kwargs(cfg)
    assert kw["verify_certs"] is False and "verification is OFF" in caplog.text


@pytest.mark.parametrize("yaml, message", [
    ("hosts: [https://a:9200, http://b:9200]", "mix of http"),
    ("hosts: [es:9200]", "must start with http"),
    ("hosts: [https://a:9200]\n  ca_certs: /no/such/ca.pem", "no such file"),
    ("password: " + PASSWORD, "username is empty"),
])
def test_unusable_settings_fail_clearly_without_secrets(yaml, message):
    with pytest.raises(EsConfigError, match=message) as err:
        client_kwargs(es_cfg("elasticsearch:\n  " + yaml + "\n"))
    assert PASSWORD not in str(err.value)


def test_secrets_never_in_repr_logs_or_exceptions(caplog):
    cfg = es_cfg(f"elasticsearch:\n  hosts: ['http://kea:{PASSWORD}@127.0.0.1:9']\n  username: kea\n"
                 f"  password: {PASSWORD}\n  api_key: {API_KEY}\n  request_timeout: 1s\n")
    with caplog.at_level(logging.DEBUG):
        client = build_client(cfg)
        with pytest.raises(EsConnectionError) as err:
            client.options(max_retries=0).info()  # port 9: nothing listens
    texts = [repr(client), str(err.value), repr(err.value), caplog.text, describe(cfg),
             repr(client.transport.node_pool.all()[0].config)]
    for text in texts:
        assert PASSWORD not in text and API_KEY not in text
    assert "auth=api_key" in describe(cfg)
    assert redact_url(f"https://u:{PASSWORD}@h:9200/x") == "https://***@h:9200/x"
