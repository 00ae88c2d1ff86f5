"""The one seam between the watchers / the Lease loop and the network.

Why not the generated API classes: they deserialize into model objects (slow, memory-heavy,
kubernetes-client/python#1867), and `kubernetes.watch.Watch` loses resourceVersions from LISTs
and BOOKMARKs. We keep the client only for what it does well: loading kubeconfig / in-cluster
credentials (exec plugins, token refresh) and a configured TLS pool. Requests go through
`Transport`, which sends plain JSON and maps every failure into three exception kinds the
callers branch on: `Gone` (relist), `Unavailable` (back off and retry), `Rejected` (the
server said no; 404 and 409 are subclasses because the Lease loop needs them).

Credentials: the Authorization header is read from the client's configuration per request
(so rotated in-cluster tokens are picked up) and never appears in a message or log line.
"""
from __future__ import annotations

import http.client
import logging
import os
import urllib.parse
from pathlib import Path
from typing import Any, Mapping, Optional

import orjson
import urllib3
from tenacity import RetryCallState, wait_random_exponential

log = logging.getLogger("kea.kube")

USER_AGENT = "kube-event-alerter"
#: A Retry-After longer than this is treated as this (a misconfigured proxy must not park a
#: watcher for an hour).
MAX_RETRY_AFTER = 300.0


class KubeError(Exception):
    """A failed API call. `reason` is a short, bounded label for metrics and logs."""

    def __init__(self, reason: str, message: str, *, retry_after: Optional[float] = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.retry_after = retry_after


class Gone(KubeError):
    """410 Gone: the resourceVersion (or continue token) is older than etcd's history."""


class Unavailable(KubeError):
    """Transport errors, 429 and 5xx: retry with backoff (honouring `retry_after`)."""


class Rejected(KubeError):
    """Any other 4xx: a retry alone will not help (RBAC, a resource not served, bad input)."""

    def __init__(self, reason: str, message: str, *, status: int) -> None:
        super().__init__(reason, message)
        self.status = status


class NotFound(Rejected):
    pass


class Conflict(Rejected):
    """409: optimistic concurrency lost (resourceVersion changed) or AlreadyExists."""


class KubeconfigError(Exception):
    """Credentials that cannot work: a kubeconfig that is missing, unreadable or malformed, or
    no in-cluster service account. One line naming the file and the problem, never the file's
    content (it holds tokens and keys). `key` is the config key to blame (`kubeconfig` or
    `context`)."""

    def __init__(self, message: str, *, key: str = "kubeconfig") -> None:
        super().__init__(message)
        self.key = key


def build_api_client(cfg: Any):
    """A `kubernetes.client.ApiClient` from `watcher.config.Kubernetes`: the kubeconfig (and
    context) when `cfg.kubeconfig` is set, else the pod's service account. Raises
    `KubeconfigError` when neither can be loaded."""
    from kubernetes import client, config

    if cfg.kubeconfig:
        check_kubeconfig(cfg.kubeconfig, cfg.context)
        # Loading raises ConfigException (a referenced certificate file missing), OSError,
        # ValueError (bad base64 data)...: whichever, the daemon cannot start and says why.
        try:
            return config.new_client_from_config(config_file=cfg.kubeconfig, context=cfg.context or None)
        except Exception as exc:
            raise KubeconfigError(f"{cfg.kubeconfig}: cannot load the credentials: {_load_error(exc)}") from None
    configuration = client.Configuration()
    try:
        # try_refresh_token (the default) re-reads the projected token file before it expires.
        config.load_incluster_config(client_configuration=configuration)
    except Exception as exc:  # ConfigException: no service host / token file
        raise KubeconfigError(f"no in-cluster service account ({_load_error(exc)}); outside a cluster, "
                              "set kubernetes.kubeconfig") from None
    return client.ApiClient(configuration)


def check_kubeconfig(path: str, context: str = "") -> None:
    """Raise `KubeconfigError` unless `path` (one file, or several joined like $KUBECONFIG)
    holds a kubeconfig with the context to use. Reads files only: credential plugins run
    when the daemon connects, not here."""
    from kubernetes.config.kube_config import KubeConfigLoader, KubeConfigMerger

    docs = [_read_kubeconfig(os.path.expanduser(p)) for p in path.split(os.pathsep) if p]
    names = [str(c["name"]) for doc in docs for c in doc.get("contexts") or []]
    if context and context not in names:
        raise KubeconfigError(f"no context `{context}` in {path} (it has: {', '.join(names) or 'none'})", key="context")
    if not context and not any(doc.get("current-context") for doc in docs):
        raise KubeconfigError(f"{path} has no current-context: set kubernetes.context (contexts: {', '.join(names) or 'none'})")
    try:
        KubeConfigLoader(config_dict=KubeConfigMerger(path).config, active_context=context or None)
    except Exception as exc:  # ConfigException naming a key, or an odd shape the checks above missed
        raise KubeconfigError(f"{path}: {_load_error(exc)}") from None


def _read_kubeconfig(path: str) -> dict:
    import yaml

    try:
        text = Path(path).read_bytes().decode("utf-8")
    except OSError as exc:
        raise KubeconfigError(f"cannot read {path}: {exc.strerror or exc.__class__.__name__}") from None
    except UnicodeDecodeError as exc:
        raise KubeconfigError(f"{path} is not UTF-8 text (byte {exc.start}): not a kubeconfig") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        # The problem only: the error's own text quotes the file, and the file holds secrets.
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise KubeconfigError(f"{path} is not YAML ({where}{getattr(exc, 'problem', None) or 'unreadable'})") from None
    _check_shape(path, data)
    return data


def _check_shape(path: str, data: Any) -> None:
    """What the library indexes without checking (it would raise TypeError or KeyError)."""
    if not isinstance(data, dict):
        got = "an empty file" if data is None else f"a {type(data).__name__}"
        raise KubeconfigError(f"{path}: expected a kubeconfig (a mapping of clusters, contexts and users), got {got}")
    for key in ("clusters", "contexts", "users"):
        entries = data.get(key) or []
        if not isinstance(entries, list) or not all(isinstance(e, dict) and "name" in e for e in entries):
            raise KubeconfigError(f"{path}: `{key}` must be a list of entries with a `name`")


def _load_error(exc: Exception) -> str:
    """The kubernetes library's own messages name keys and files, not values; anything else is
    named by its type only."""
    from kubernetes.config.config_exception import ConfigException

    if isinstance(exc, ConfigException):
        return str(exc).removeprefix("Invalid kube-config file. ")[:300]
    if isinstance(exc, OSError):
        return f"{exc.filename or ''}: {exc.strerror or exc.__class__.__name__}".lstrip(": ")
    return exc.__class__.__name__


class Transport:
    """Plain-JSON requests over an ApiClient's connection pool."""

    def __init__(self, api_client: Any, *, connect_timeout: float = 10.0) -> None:
        self._api = api_client
        self.connect_timeout = connect_timeout

    @property
    def host(self) -> str:
        return self._api.configuration.host.rstrip("/")

    def _headers(self, content_type: Optional[str]) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if content_type:
            headers["Content-Type"] = content_type
        # auth_settings() runs the configuration's refresh hook (in-cluster token rotation).
        for setting in self._api.configuration.auth_settings().values():
            if setting.get("in") == "header" and setting.get("value"):
                headers[setting["key"]] = setting["value"]
        return headers

    def open(self, method: str, path: str, *, query: Optional[Mapping[str, Any]] = None,
             body: Any = None, timeout: float, stream: bool = False,
             content_type: str = "application/json") -> urllib3.BaseHTTPResponse:
        """Send one request; return the 2xx response (unread when `stream`), else raise."""
        url = self.host + path
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v not in (None, "")})
        data = orjson.dumps(body) if body is not None else None
        try:
            r = self._api.rest_client.pool_manager.request(
                method, url, body=data, headers=self._headers(content_type if data is not None else None),
                timeout=urllib3.Timeout(connect=min(self.connect_timeout, timeout), read=timeout),
                preload_content=not stream, retries=False)
        except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as exc:
            # Connection refused/reset, TLS, read timeout: the exception text names the host
            # and port at most, never our headers.
            raise Unavailable(transport_reason(exc), f"{method} {path}: {exc.__class__.__name__}: {exc}") from None
        if 200 <= r.status < 300:
            return r
        try:
            payload = r.data if not stream else r.read(64 * 1024)
        except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError):
            payload = b""
        finally:
            r.release_conn()
        raise error_for(method, path, r.status, r.headers, payload)

    def json(self, method: str, path: str, *, query: Optional[Mapping[str, Any]] = None,
             body: Any = None, timeout: float) -> dict:
        r = self.open(method, path, query=query, body=body, timeout=timeout)
        try:
            return orjson.loads(r.data) if r.data else {}
        except orjson.JSONDecodeError:
            raise Unavailable("bad_json", f"{method} {path}: response is not JSON") from None


def transport_reason(exc: BaseException) -> str:
    # urllib3 makes NewConnectionError (refused, unresolvable) a ConnectTimeoutError subclass;
    # a refused connection is not a timeout: the server is simply not there (yet).
    if isinstance(exc, urllib3.exceptions.NewConnectionError):
        return "connection"
    if isinstance(exc, (urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.ConnectTimeoutError, TimeoutError)):
        return "timeout"
    if isinstance(exc, urllib3.exceptions.SSLError):
        return "tls"
    if isinstance(exc, (urllib3.exceptions.ProtocolError, http.client.IncompleteRead, urllib3.exceptions.IncompleteRead)):
        return "protocol"
    return "connection"


def error_for(method: str, path: str, status: int, headers: Mapping[str, str], payload: bytes) -> KubeError:
    """Map an HTTP error response (a `Status` body when the apiserver wrote it) to our types."""
    reason, message, retry_after = _status_fields(payload)
    retry_after = _retry_after(headers.get("Retry-After"), retry_after)
    text = f"{method} {path}: HTTP {status} {reason}: {message[:300]}".rstrip(": ")
    if status == 410:
        return Gone("expired", text)
    if status == 429:
        return Unavailable("throttled", text, retry_after=retry_after)
    if status >= 500:
        return Unavailable(f"http_{status}", text, retry_after=retry_after)
    if status == 404:
        return NotFound("not_found", text, status=status)
    if status == 409:
        return Conflict("conflict", text, status=status)
    return Rejected(f"http_{status}", text, status=status)


def status_error(status: Mapping[str, Any]) -> KubeError:
    """An in-stream `{"type": "ERROR", "object": <Status>}` as an exception."""
    raw_code, raw_details = status.get("code"), status.get("details")
    code = raw_code if isinstance(raw_code, int) else 0
    details: Mapping[str, Any] = raw_details if isinstance(raw_details, dict) else {}
    text = f"watch ERROR {code} {status.get('reason', '')}: {str(status.get('message', ''))[:300]}"
    if code == 410:
        # "too old resource version": etcd compacted past our RV (kubernetes-client/python#502).
        return Gone("expired", text)
    retry_after = _retry_after(None, details.get("retryAfterSeconds"))
    if code == 429 or code >= 500 or code == 0:
        return Unavailable(f"stream_error_{code}", text, retry_after=retry_after)
    return Rejected(f"stream_error_{code}", text, status=code)


def _status_fields(payload: bytes) -> tuple[str, str, Any]:
    try:
        st = orjson.loads(payload) if payload else {}
    except orjson.JSONDecodeError:
        return "", payload[:200].decode("utf-8", "replace"), None
    if not isinstance(st, dict):
        return "", "", None
    raw_details = st.get("details")
    details: Mapping[str, Any] = raw_details if isinstance(raw_details, dict) else {}
    return str(st.get("reason") or ""), str(st.get("message") or ""), details.get("retryAfterSeconds")


def _retry_after(header: Optional[str], seconds: Any) -> Optional[float]:
    # The apiserver sends seconds (`Retry-After: 1` with APF throttling); HTTP dates are legal
    # too but not what it writes, so an unparsable value just means "no hint".
    for value in (header, seconds):
        try:
            if value is not None and float(value) >= 0:
                return min(float(value), MAX_RETRY_AFTER)
        except (TypeError, ValueError):
            continue
    return None


class Backoff:
    """Full-jitter exponential backoff (tenacity's `wait_random_exponential`), reset by the
    caller after progress. Full jitter spreads the reconnects of many replicas after an
    apiserver restart; a server's Retry-After is a floor.

    Two curves: errors the server answered (5xx, 429, a cut stream) grow to `maximum`; a
    server that refuses connections (`refused=True`: down, restarting) is retried within
    `refused_maximum`, because a refused connection costs it nothing and the first accepted
    one should come within seconds of it being back. Each curve counts its own failures, so
    a 503 from a just-restarted server starts short too."""

    def __init__(self, initial: float = 0.5, maximum: float = 30.0, refused_maximum: float = 2.0) -> None:
        self._wait = wait_random_exponential(multiplier=initial, max=maximum, min=initial / 2)
        self._wait_refused = wait_random_exponential(multiplier=initial, max=min(maximum, refused_maximum),
                                                     min=initial / 2)
        self._state = RetryCallState(None, None, (), {})  # type: ignore[arg-type]
        self.maximum, self.refused_maximum = maximum, refused_maximum
        self.failures = 0
        """All failures since the last reset."""
        self.answered_failures = 0
        """Failures the server answered (not refused): the long curve's attempt number."""

    def next(self, retry_after: Optional[float] = None, *, refused: bool = False) -> float:
        self.failures += 1
        if refused:
            self._state.attempt_number = self.failures - self.answered_failures
            delay = float(self._wait_refused(self._state))
        else:
            self.answered_failures += 1
            self._state.attempt_number = self.answered_failures
            delay = float(self._wait(self._state))
        return max(delay, retry_after) if retry_after else delay

    def reset(self) -> None:
        self.failures = self.answered_failures = 0
