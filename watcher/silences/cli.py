"""`kube-event-alerter silence add | list | expire`: against the running daemon's HTTP API
(`--url`, token from `--token-file` or env KEA_API_TOKEN), or straight against the configured
store (`-c config.yaml`: the Elasticsearch index, or data_dir/silences.json under its lock).

Exit codes: 0 done; 1 the silence was refused or the API / store could not be reached (the
message says why); 2 usage or configuration error.
"""
from __future__ import annotations

import argparse
import builtins
import getpass
import json
import os
import sys
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote

from notifiers.clock import utcnow

TOKEN_ENV = "KEA_API_TOKEN"


class CliError(Exception):
    """A message for stderr; exit 1."""


def add_parser(sub: Any, func: Callable[[argparse.Namespace], int]) -> None:
    silence = sub.add_parser("silence", help="silence alerts: add, list, expire").add_subparsers(metavar="ACTION")
    add = silence.add_parser("add", help="silence alerts matching all --match for a while")
    add.add_argument("--match", action="append", default=[], required=True, metavar="FIELD=VALUE", dest="matchers",
                     help="namespace=shop, rule=oom-killed, labels.team=pay, severity=~warning|critical (repeatable)")
    add.add_argument("--for", dest="duration", metavar="DURATION", help="how long, like 30m or 2h")
    add.add_argument("--until", metavar="TIME", help="or: until this ISO 8601 time (with its offset)")
    add.add_argument("--start", metavar="TIME", help="start at this ISO 8601 time (default: now)")
    add.add_argument("--comment", required=True, help="why (shown in `silence list`)")
    add.add_argument("--author", default="", help="who (default: the login name)")
    lst = silence.add_parser("list", help="active and pending silences (and with --expired the expired kept)")
    lst.add_argument("--expired", action="store_true", help="also the expired ones (kept five days)")
    lst.add_argument("-o", "--output", choices=("text", "json"), default="text")
    exp = silence.add_parser("expire", help="end a silence now")
    exp.add_argument("id")
    for p in (add, lst, exp):
        where = p.add_mutually_exclusive_group(required=True)
        where.add_argument("--url", help="the daemon's status port, e.g. http://kube-event-alerter:9102")
        where.add_argument("-c", "--config", help="or: write straight to the store this config names")
        p.add_argument("--token-file", help=f"file holding the API token (default: env {TOKEN_ENV})")
        p.set_defaults(func=func, action=p.prog.rsplit(" ", 1)[-1])


def run(args: argparse.Namespace) -> int:
    try:
        client = _client(args)
        if client is None:
            return 2
        try:
            return _ACTIONS[args.action](client, args)
        finally:
            client.close()
    except CliError as exc:
        print(f"silence {args.action}: {exc}", file=sys.stderr)
        return 1


def _add(client: "_Client", args: argparse.Namespace) -> int:
    if (args.duration is None) == (args.until is None):
        raise CliError("give --for DURATION (like 2h) or --until TIME")
    body: dict[str, Any] = {"matchers": args.matchers, "created_by": args.author or _login(), "comment": args.comment}
    body.update({k: v for k, v in (("duration", args.duration), ("ends_at", args.until), ("starts_at", args.start)) if v})
    made = client.add(body)
    print(made["id"])
    print(f"silenced until {made['ends_at']}: {', '.join(made['matchers'])}", file=sys.stderr)
    return 0


def _list(client: "_Client", args: argparse.Namespace) -> int:
    silences = client.list(expired=args.expired)
    if args.output == "json":
        print(json.dumps(silences, ensure_ascii=False, indent=1))
        return 0
    if not silences:
        print("no silences" + ("" if args.expired else " (add --expired for the expired ones)"), file=sys.stderr)
    for s in silences:
        print(f"{s['id']}  {s['state']:<8} {_short(s['starts_at'])} → {_short(s['ends_at'])}  "
              f"{s['created_by']}  {', '.join(s['matchers'])}  # {s['comment']}")
    return 0


def _expire(client: "_Client", args: argparse.Namespace) -> int:
    ended = client.expire(args.id)
    print(f"expired {ended['id']} at {ended['ends_at']}", file=sys.stderr)
    return 0


_ACTIONS = {"add": _add, "list": _list, "expire": _expire}


def _short(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%MZ")


def _login() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in a bare container
        return "cli"


# -- where silences are: the API, or the store ----------------------------------------------------


class _Client:
    """Where the CLI's silences are: the daemon's API or the store; answers as the API does."""

    def add(self, body: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def list(self, *, expired: bool) -> builtins.list[dict[str, Any]]:
        raise NotImplementedError

    def expire(self, silence_id: str) -> dict[str, Any]:
        raise NotImplementedError

    def close(self) -> None:
        pass


def _client(args: argparse.Namespace) -> "_Client | None":
    if args.url:
        return _ApiClient(args.url.rstrip("/"), _token(args.token_file))
    from watcher.config import ConfigError, load_config

    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return None
    if not cfg.silences.enabled:
        raise CliError(f"{args.config}: silences.enabled is false")
    from .service import open_store

    try:
        return _StoreClient(open_store(cfg))
    except Exception as exc:  # e.g. an Elasticsearch setting the client refuses
        raise CliError(f"the silence store cannot be opened: {exc.__class__.__name__}: {exc}") from None


def _token(path: str | None) -> str:
    if path:
        try:
            token = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise CliError(f"--token-file {path}: {exc.strerror}") from None
    else:
        token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise CliError(f"the API needs a token: give --token-file FILE or set {TOKEN_ENV}")
    return token


class _ApiClient(_Client):
    def __init__(self, base: str, token: str) -> None:
        self.base, self._token = base, token

    def add(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", "", body)["silence"]

    def list(self, *, expired: bool) -> builtins.list[dict[str, Any]]:
        return self._call("GET", "?expired=true" if expired else "")["silences"]

    def expire(self, silence_id: str) -> dict[str, Any]:
        return self._call("DELETE", "/" + quote(silence_id, safe=""))["silence"]

    def _call(self, method: str, tail: str, body: Any = None) -> dict[str, Any]:
        req = urllib.request.Request(f"{self.base}/api/v1/silences{tail}", method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"Bearer {self._token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as exc:
            raise CliError(_api_error(exc)) from None
        except (OSError, ValueError) as exc:
            raise CliError(f"{self.base} cannot be reached: {getattr(exc, 'reason', exc)}") from None


def _api_error(exc: urllib.error.HTTPError) -> str:
    try:
        answer = json.loads(exc.read())
    except ValueError:
        answer = {}
    message = answer.get("error") or exc.reason
    field = f" (field `{answer['field']}`)" if answer.get("field") else ""
    return f"the daemon answered {exc.code}: {message}{field}"


class _StoreClient(_Client):
    def __init__(self, store: Any) -> None:
        self.store = store

    def add(self, body: dict[str, Any]) -> dict[str, Any]:
        from .api import BadField, described, silence_from_request

        try:
            silence = silence_from_request(body, now=utcnow())
        except BadField as exc:
            raise CliError(f"{_OPTION.get(exc.field.split('[')[0], exc.field)}: {exc}") from None
        _guarded(lambda: self.store.add(silence))
        return described(silence, utcnow())

    def list(self, *, expired: bool) -> builtins.list[dict[str, Any]]:
        from .api import described

        now = utcnow()
        return [described(s, now) for s in _guarded(self.store.list) if expired or s.state(now) != "expired"]

    def expire(self, silence_id: str) -> dict[str, Any]:
        from .api import described
        from .store import UnknownSilence

        try:
            ended = _guarded(lambda: self.store.expire(silence_id, utcnow()))
        except UnknownSilence:
            raise CliError(f"no silence with id {silence_id} in the {self.store.name} store") from None
        return described(ended, utcnow())

    def close(self) -> None:
        self.store.close()


_OPTION = {"matchers": "--match", "duration": "--for", "ends_at": "--until", "starts_at": "--start",
           "created_by": "--author", "comment": "--comment"}


def _guarded(call: Callable[[], Any]) -> Any:
    from .store import StoreError

    try:
        return call()
    except StoreError as exc:
        raise CliError(str(exc)) from None
