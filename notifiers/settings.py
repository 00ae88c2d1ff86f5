"""Validated notifier settings: the raw config mapping of one notifier, checked and typed.

The config loader (watcher/config.py) reads YAML, expands `${ENV}` and `X_file:` and hands
each notifier's raw mapping to `build_notifier`, which calls `parse_settings` here. Every
problem raises `SettingsError(key_path, message)` naming the key, so start-up stops with a
clear line instead of a notifier that silently never sends.

Raw keys (all optional except `type` and `url`):

  type                    wecom | dingtalk | feishu | webhook
  url                     full webhook URL incl. key/token (a secret; never logged)
  msgtype                 wecom/dingtalk: markdown (default) | text;
                          feishu: interactive (default) | post | text; webhook: json
  secret                  dingtalk/feishu signing secret ("加签"; a secret)
  keywords                dingtalk/feishu: custom keywords of the robot's security settings;
                          every message is made to contain one
  rate_per_minute         sends per minute per robot (token refill and hard rolling-minute cap);
                          default 18 for wecom/dingtalk (platform: 20), 90 feishu (100), 600 webhook
  burst                   sends allowed back to back (default 5; feishu 4)
  max_bytes               content limit in UTF-8 bytes; default and maximum per platform:
                          wecom markdown 4096 / text 2048, dingtalk 4000 (max 20000),
                          feishu 18000 (body <= 20 KB), webhook body 262144
  timeout_seconds         HTTP timeout per request (default 10)
  language                zh | en (default: defaults.language)
  timezone                IANA zone for times in messages (default: defaults.timezone)
  kibana_url              Kibana base URL for the "events" link (default: defaults.kibana_url)
  kibana_query            KQL for that link, str.format fields {namespace} {name} {kind}
                          {workload_name} {cluster} (default: defaults.kibana_query)
  template                Jinja2 template text replacing the built-in one (rules can still
                          override per alert)
  mention:                who to @mention, from the object's owner label/annotation
    label                 label holding the owner (default: defaults.mention_label)
    annotation            annotation holding owners, comma separated (default: defaults.mention_annotation)
    users                 {owner: platform user id} (WeCom userid, DingTalk userId, Feishu open_id);
                          an owner without an entry is used as the user id itself
    mobiles               {owner: mobile} (WeCom text mentioned_mobile_list, DingTalk atMobiles)
    always                [owner, ...] mentioned on every firing alert
    at_all_severities     [severity, ...] that @all (WeCom text, DingTalk, Feishu)
    on_resolved           also mention on 【恢复】 messages (default false)
  headers                 webhook: extra HTTP headers (values of Authorization/token/key-like
                          headers are treated as secrets)
  hmac_secret             webhook: sign the body (X-KEA-Signature, see notifiers/webhook.py)
  send_resolved           send 【恢复】 messages (default true)
  retry_attempts          attempts per message for transient errors (default 4, max 10)
  retry_max_seconds       cap of one exponential backoff wait (default 30)
  throttle_pause_seconds  pause after a platform rate-limit answer (wecom 45009: 60,
                          dingtalk 130101: 600, feishu 9499/11232: 60; webhook 429: 60)
  verify_tls              verify TLS certificates (default true)
  max_batch               most alerts merged into one digest message (default 20)
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping, NoReturn
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_CREDENTIAL_NAME = re.compile(r"(?i)key|token|secret|sign|auth|pass|cookie|session")
DEFAULT_KIBANA_QUERY = 'namespace:"{namespace}" and name:{name}*'

COMMON_KEYS = frozenset({
    "type", "url", "msgtype", "rate_per_minute", "burst", "max_bytes", "timeout_seconds",
    "language", "timezone", "kibana_url", "kibana_query", "template", "mention",
    "send_resolved", "retry_attempts", "retry_max_seconds", "throttle_pause_seconds",
    "verify_tls", "max_batch",
})
MENTION_KEYS = frozenset({"label", "annotation", "users", "mobiles", "always",
                          "at_all_severities", "on_resolved"})


class SettingsError(ValueError):
    """A notifier's raw settings are wrong; `key_path` names the key, e.g. ("ops", "burst")."""

    def __init__(self, key_path: tuple[str, ...], message: str) -> None:
        self.key_path = tuple(key_path)
        self.message = message
        super().__init__(f"{'.'.join(self.key_path)}: {message}")


@dataclass(frozen=True, slots=True)
class NotifierDefaults:
    """Daemon-wide defaults that each notifier may override."""

    timezone: str = "Asia/Shanghai"
    """IANA zone in which messages show times."""
    language: Literal["zh", "en"] = "zh"
    """Built-in template set."""
    kibana_url: str = ""
    """Kibana base URL; empty = no events link in messages."""
    mention_label: str = "owner"
    """Pod/workload label whose value is the owner to @mention."""
    mention_annotation: str = ""
    """Annotation with owners (comma separated); checked before the label when set."""
    kibana_query: str = DEFAULT_KIBANA_QUERY
    """KQL of the events link; must match the field names of the Elasticsearch event index."""
    silence_link: Any = None
    """A `notifiers.silencelink.SilenceLinker` when the 静默 1 小时 link is configured."""


@dataclass(frozen=True, slots=True)
class MentionSettings:
    label: str = "owner"
    annotation: str = ""
    users: Mapping[str, str] = field(default_factory=dict)
    mobiles: Mapping[str, str] = field(default_factory=dict)
    always: tuple[str, ...] = ()
    at_all_severities: tuple[str, ...] = ()
    on_resolved: bool = False


@dataclass(frozen=True, slots=True)
class PlatformSpec:
    """What one platform allows; each platform module defines its own `SPEC`."""

    type: str
    msgtypes: tuple[str, ...]
    """Accepted msgtypes, the first is the default."""
    max_bytes: Mapping[str, tuple[int, int]]
    """msgtype -> (default, hard maximum) content bytes."""
    rate_per_minute: int
    max_rate_per_minute: int
    burst: int
    throttle_pause_seconds: float
    min_throttle_pause_seconds: float
    extra_keys: frozenset[str] = frozenset()
    check_url: Callable[[str], str | None] = lambda url: None
    """Returns what is wrong with the URL (never echoing it), or None."""


@dataclass(frozen=True, slots=True)
class NotifierSettings:
    name: str
    type: str
    url: str = field(repr=False)
    msgtype: str
    rate_per_minute: int
    burst: int
    max_bytes: int
    timeout_seconds: float
    language: Literal["zh", "en"]
    timezone: str
    kibana_url: str
    kibana_query: str
    template: str
    mention: MentionSettings
    send_resolved: bool
    retry_attempts: int
    retry_max_seconds: float
    throttle_pause_seconds: float
    verify_tls: bool
    max_batch: int
    secret: str = field(default="", repr=False)
    keywords: tuple[str, ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    hmac_secret: str = field(default="", repr=False)
    silence_link: Any = field(default=None, repr=False, compare=False)
    """From the defaults: makes a firing card's 静默 1 小时 link (None: no link)."""

    def secrets(self) -> list[str]:
        """Every string that must never be logged: the URL, its credential parts, secrets.

        Only credential-like query parameters and headers count, so that an ordinary value
        (`?format=markdown`, `Content-Type: application/json`) is not masked in every log."""
        out = [self.url, self.secret, self.hmac_secret]
        out += [v for k, v in self.headers.items() if _CREDENTIAL_NAME.search(k)]
        for name, values in parse_qs(urlsplit(self.url).query).items():
            if _CREDENTIAL_NAME.search(name):
                out.extend(values)
        return [s for s in out if s]


def parse_settings(name: str, raw: Mapping[str, Any], spec: PlatformSpec,
                   defaults: NotifierDefaults) -> NotifierSettings:
    v = _Reader((name,), raw)
    allowed = COMMON_KEYS | spec.extra_keys
    for key in raw:
        if key not in allowed:
            v.fail((key,), f"unknown key for a {spec.type} notifier "
                           f"(allowed: {', '.join(sorted(allowed))})")
    url = v.string("url", required=True)
    if not url.startswith(("http://", "https://")):
        v.fail(("url",), "expected an http:// or https:// URL")
    problem = spec.check_url(url)
    if problem:
        v.fail(("url",), problem)
    msgtype = v.choice("msgtype", spec.msgtypes, spec.msgtypes[0])
    default_bytes, max_bytes = spec.max_bytes[msgtype]
    language = v.choice("language", ("zh", "en"), defaults.language)
    tz = v.string("timezone", default=defaults.timezone)
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        v.fail(("timezone",), f"unknown time zone {tz!r}")
    kibana_url = v.string("kibana_url", default=defaults.kibana_url).rstrip("/")
    if kibana_url and not kibana_url.startswith(("http://", "https://")):
        v.fail(("kibana_url",), "expected an http:// or https:// URL")
    settings = NotifierSettings(
        name=name, type=spec.type, url=url, msgtype=msgtype,
        rate_per_minute=v.integer("rate_per_minute", spec.rate_per_minute, 1,
                                  spec.max_rate_per_minute,
                                  why=f"the platform allows {spec.max_rate_per_minute}"),
        burst=v.integer("burst", spec.burst, 1, 20),
        max_bytes=v.integer("max_bytes", default_bytes, 256, max_bytes,
                            why=f"the {spec.type} {msgtype} limit"),
        timeout_seconds=v.number("timeout_seconds", 10.0, 0.5, 120.0),
        language="en" if language == "en" else "zh", timezone=tz, kibana_url=kibana_url,
        kibana_query=v.string("kibana_query", default=defaults.kibana_query),
        template=v.string("template", default=""),
        mention=_mention(v, defaults),
        send_resolved=v.boolean("send_resolved", True),
        retry_attempts=v.integer("retry_attempts", 4, 1, 10),
        retry_max_seconds=v.number("retry_max_seconds", 30.0, 0.1, 600.0),
        throttle_pause_seconds=v.number("throttle_pause_seconds", spec.throttle_pause_seconds,
                                        spec.min_throttle_pause_seconds, 3600.0),
        verify_tls=v.boolean("verify_tls", True),
        max_batch=v.integer("max_batch", 20, 1, 100),
        secret=v.string("secret", default="") if "secret" in spec.extra_keys else "",
        keywords=tuple(v.str_list("keywords", max_items=10)) if "keywords" in spec.extra_keys
        else (),
        headers=v.str_map("headers") if "headers" in spec.extra_keys else {},
        hmac_secret=v.string("hmac_secret", default="") if "hmac_secret" in spec.extra_keys
        else "",
        silence_link=defaults.silence_link,
    )
    return settings


def _mention(v: "_Reader", defaults: NotifierDefaults) -> MentionSettings:
    raw = v.raw.get("mention")
    if raw is None:
        return MentionSettings(label=defaults.mention_label,
                               annotation=defaults.mention_annotation)
    if not isinstance(raw, Mapping):
        v.fail(("mention",), f"expected a mapping, got {type(raw).__name__}")
    m = _Reader(v.path + ("mention",), raw)
    for key in raw:
        if key not in MENTION_KEYS:
            m.fail((key,), f"unknown key (allowed: {', '.join(sorted(MENTION_KEYS))})")
    return MentionSettings(
        label=m.string("label", default=defaults.mention_label),
        annotation=m.string("annotation", default=defaults.mention_annotation),
        users=m.str_map("users"), mobiles=m.str_map("mobiles"),
        always=tuple(m.str_list("always")),
        at_all_severities=tuple(m.str_list("at_all_severities")),
        on_resolved=m.boolean("on_resolved", False),
    )


class _Reader:
    """Typed access to a raw mapping that raises SettingsError with the key path."""

    def __init__(self, path: tuple[str, ...], raw: Mapping[str, Any]) -> None:
        if not isinstance(raw, Mapping):
            raise SettingsError(path, f"expected a mapping, got {type(raw).__name__}")
        self.path = path
        self.raw = raw

    def fail(self, keys: tuple[str, ...], message: str) -> NoReturn:
        raise SettingsError(self.path + tuple(str(k) for k in keys), message)

    def _get(self, key: str, expected: str, types: tuple[type, ...], default: Any,
             required: bool = False) -> Any:
        if key not in self.raw or self.raw[key] is None:
            if required:
                self.fail((key,), "required")
            return default
        value = self.raw[key]
        # bool is an int subclass: `burst: true` must not read as 1.
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            self.fail((key,), f"expected {expected}, got {type(value).__name__}")
        return value

    def string(self, key: str, *, default: str = "", required: bool = False) -> str:
        value: str = self._get(key, "a string", (str,), default, required)
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value: bool = self._get(key, "true or false", (bool,), default)
        return value

    def choice(self, key: str, options: tuple[str, ...], default: str) -> str:
        value = self.string(key, default=default)
        if value not in options:
            self.fail((key,), f"expected one of {', '.join(options)}, got {value!r}")
        return value

    def integer(self, key: str, default: int, lo: int, hi: int, *, why: str = "") -> int:
        value: int = self._get(key, "an integer", (int,), default)
        if not lo <= value <= hi:
            self.fail((key,), f"expected {lo}..{hi}{' (' + why + ')' if why else ''}, got {value}")
        return value

    def number(self, key: str, default: float, lo: float, hi: float) -> float:
        value = float(self._get(key, "a number", (int, float), default))
        if not lo <= value <= hi:
            self.fail((key,), f"expected {lo:g}..{hi:g}, got {value:g}")
        return value

    def str_list(self, key: str, *, max_items: int = 100) -> list[str]:
        value = self._get(key, "a list of strings", (list, tuple), [])
        if len(value) > max_items:
            self.fail((key,), f"expected at most {max_items} items, got {len(value)}")
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item:
                self.fail((key, str(i)), f"expected a non-empty string, got {type(item).__name__}")
        return list(value)

    def str_map(self, key: str) -> dict[str, str]:
        value = self._get(key, "a mapping of strings", (Mapping,), {})
        for k, item in value.items():
            if not isinstance(item, (str, int)) or isinstance(item, bool):
                self.fail((key, str(k)), f"expected a string, got {type(item).__name__}")
        # Mobiles are often written unquoted in YAML (an int): keep them as text.
        return {str(k): str(item) for k, item in value.items()}
