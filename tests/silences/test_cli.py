"""`kube-event-alerter silence add | list | expire`, through `main()`: straight to the store of
`-c config.yaml`, and through `--url` to the API on a real status server; clear errors, exit 1."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from watcher.cli import main
from watcher.health import Health, StatusServer
from watcher.silences.api import SilencesApi
from watcher.silences.filestore import FileSilenceStore

TOKEN = "kea-api-7f3c1b9e5d2a4c68"


@pytest.fixture
def config(tmp_path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(f"cluster: t\ndata_dir: {tmp_path / 'data'}\nnotifiers: {{}}\n")
    return path


@pytest.fixture
def api(tmp_path, monkeypatch):
    store = FileSilenceStore(tmp_path / "api")
    server = StatusServer("127.0.0.1", 0, health=Health(), registry=CollectorRegistry(),
                          apps=[SilencesApi(store, token=TOKEN)])
    server.start()
    monkeypatch.setenv("KEA_API_TOKEN", TOKEN)
    yield f"http://127.0.0.1:{server.port}", store
    server.stop()


def silence_cli(*argv: str) -> int:
    return main(["silence", *argv])


def test_add_list_expire_straight_to_the_store(config, tmp_path, capsys) -> None:
    where = ("-c", str(config))
    assert silence_cli("add", *where, "--match", "namespace=shop", "--match", "rule=oom-killed", "--for", "2h",
                       "--comment", "扩容中", "--author", "li") == 0
    sid = capsys.readouterr().out.strip()
    (stored,) = FileSilenceStore(tmp_path / "data").list()
    assert (stored.id, stored.created_by, stored.comment) == (sid, "li", "扩容中")
    assert silence_cli("list", *where) == 0
    line = capsys.readouterr().out
    assert sid in line and "active" in line and 'namespace="shop"' in line and "扩容中" in line
    assert silence_cli("expire", *where, sid) == 0
    assert silence_cli("list", *where, "-o", "json") == 0
    assert json.loads(capsys.readouterr().out) == []
    assert silence_cli("list", *where, "--expired", "-o", "json") == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert (listed["id"], listed["state"]) == (sid, "expired")


def test_add_list_expire_through_the_api(api, capsys) -> None:
    url, store = api
    assert silence_cli("add", "--url", url, "--match", "labels.team=pay", "--for", "30m", "--comment", "发布") == 0
    sid = capsys.readouterr().out.strip()
    assert [s.id for s in store.list()] == [sid] and store.list()[0].created_by  # the login name
    assert silence_cli("list", "--url", url, "-o", "json") == 0
    assert [s["id"] for s in json.loads(capsys.readouterr().out)] == [sid]
    assert silence_cli("expire", "--url", url, sid) == 0
    assert not store.list()[0].active(store.list()[0].ends_at)


def test_the_token_from_a_file(api, tmp_path, monkeypatch, capsys) -> None:
    url, _ = api
    monkeypatch.delenv("KEA_API_TOKEN")
    assert silence_cli("list", "--url", url) == 1
    assert "give --token-file FILE or set KEA_API_TOKEN" in capsys.readouterr().err
    (tmp_path / "token").write_text(TOKEN + "\n")
    assert silence_cli("list", "--url", url, "--token-file", str(tmp_path / "token")) == 0
    (tmp_path / "token").write_text("wrong-token-000000\n")
    assert silence_cli("list", "--url", url, "--token-file", str(tmp_path / "token")) == 1
    err = capsys.readouterr().err
    assert "answered 401" in err and TOKEN not in err


@pytest.mark.parametrize(("argv", "message"), [
    (["--match", "namspace=shop", "--for", "1h"], "--match: silence field `matchers[0]`: unknown field `namspace`"),
    (["--match", "namespace=shop"], "give --for DURATION"),
    (["--match", "namespace=shop", "--for", "soon"], "--for: expected a duration"),
    (["--match", "namespace=shop", "--until", "2020-01-01T00:00:00+00:00"], "--until: "),
])
def test_bad_input_is_named_and_exits_1(config, capsys, argv, message) -> None:
    assert silence_cli("add", "-c", str(config), "--comment", "x", *argv) == 1
    assert message in capsys.readouterr().err


def test_the_api_names_the_bad_field(api, capsys) -> None:
    url, store = api
    assert silence_cli("add", "--url", url, "--match", "namspace=shop", "--for", "1h", "--comment", "x") == 1
    err = capsys.readouterr().err
    assert "answered 400" in err and "(field `matchers[0]`)" in err and store.list() == []


def test_unknown_id_unreachable_daemon_and_bad_config(config, tmp_path, capsys) -> None:
    assert silence_cli("expire", "-c", str(config), "no-such-id") == 1
    assert "no silence with id no-such-id in the file store" in capsys.readouterr().err
    (tmp_path / "bad.yaml").write_text("silences: {enabled: maybe}\n")
    assert silence_cli("list", "-c", str(tmp_path / "bad.yaml")) == 2
    assert "silences.enabled: expected true or false" in capsys.readouterr().err


def test_an_unreachable_daemon(monkeypatch, capsys) -> None:
    from tests.notifiers.receivers import free_port

    monkeypatch.setenv("KEA_API_TOKEN", TOKEN)
    assert silence_cli("list", "--url", f"http://127.0.0.1:{free_port()}") == 1
    assert "cannot be reached" in capsys.readouterr().err


def test_list_json_is_what_replay_and_rules_test_read_with_silences(config, tmp_path, capsys) -> None:
    from watcher.decisions import load_silences

    assert silence_cli("add", "-c", str(config), "--match", "namespace=shop", "--for", "1h", "--comment", "x") == 0
    sid = capsys.readouterr().out.strip()
    assert silence_cli("list", "-c", str(config), "-o", "json") == 0
    (tmp_path / "silences.json").write_text(capsys.readouterr().out)
    assert [s.id for s in load_silences(str(tmp_path / "silences.json"))] == [sid]
