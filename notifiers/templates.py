"""Message templates: Jinja2 in a sandbox, with built-in Chinese and English sets.

Rule authors write templates, so they run in an `ImmutableSandboxedEnvironment` and see only
plain data (dicts, lists, strings), never our objects: `{{ alert.__class__ }}` renders empty.
Missing fields render empty too (`ChainableUndefined`), because any alert may lack any field.

Which template renders an alert for a notifier, first match wins:
  1. the rule's override for the notifier's name   (`alert.templates[name]`)
  2. the rule's override for the notifier's type   (`alert.templates["wecom"]`)
  3. the notifier's `template` setting
  4. the built-in `templates/<language>/<platform>_<msgtype>.j2`
A failing override is logged and replaced by the built-in template: the alert still goes out.

Template variables: `title`, `rows` (list of {label, value, link}), `firing`, `resolved`,
`status`, `severity`, `alert` (Alert.to_dict() plus `workload`), `fields`, `labels`,
`annotations`, `time`, `started`, `duration`, `kibana_url`, `owners`, `language`, `notifier`,
`platform`. Every string in them is escaped for the notifier's markup before the template sees
it (markup.py): a value from the cluster cannot add a line, a link, a tag or a mention, in a
built-in template or a rule author's. Only row labels and the Kibana and silence links are
emitted as is.
"""
from __future__ import annotations

import logging
import threading
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from jinja2 import ChainableUndefined, PackageLoader, Template, TemplateSyntaxError

from rules.alert import Alert

from . import card, mentions
from .markup import Flavour, Trusted, escape, escape_tree
from .redact import redact
from .sandbox import CappedSandbox, constant_problem, render_capped
from .settings import NotifierSettings

_ENV = CappedSandbox(
    loader=PackageLoader("notifiers", "templates"),
    undefined=ChainableUndefined,
    autoescape=False,
    trim_blocks=True,
    lstrip_blocks=True,
)
_CACHE_MAX = 256
_cache: dict[str, Template] = {}
_cache_lock = threading.Lock()


def compile_template(source: str) -> Template:
    """Compile (and cache) template text; raises jinja2.TemplateSyntaxError."""
    with _cache_lock:
        hit = _cache.get(source)
    if hit is not None:
        return hit
    template = _ENV.from_string(source)
    with _cache_lock:
        if len(_cache) >= _CACHE_MAX:
            _cache.pop(next(iter(_cache)))
        _cache[source] = template
    return template


def check_template(source: str) -> str | None:
    """For the rule loader: None if `source` compiles, else "line N: message". A constant
    that already blows a cap (sandbox.py) is reported too, before compiling could build it."""
    try:
        problem = constant_problem(_ENV, _ENV.parse(source))
        if problem:
            return problem
        compile_template(source)
    except TemplateSyntaxError as e:
        return f"line {e.lineno}: {e.message}"
    return None


def builtin_template(name: str) -> Template:
    return _ENV.get_template(name)


def kibana_link(base: str, query: str, alert: Alert) -> str:
    """A Discover link to the object's events around the alert (±15 min)."""
    if not base:
        return ""
    values = {"namespace": alert.namespace, "kind": alert.kind, "cluster": alert.cluster,
              "name": alert.workload_name or alert.name, "workload_name": alert.workload_name}
    try:
        kql = query.format(**values)
    except (KeyError, IndexError, ValueError):
        kql = f'namespace:"{alert.namespace}"'
    start = alert.started_at.timestamp() - 900
    end = alert.at.timestamp() + 900
    g = f"(time:(from:'{_iso(start)}',to:'{_iso(end)}'))"
    # The query holds names from the cluster: its ( ) are encoded so that the link, put in a
    # markdown `[text](url)`, cannot be closed early by a name.
    a = (quote("(query:(language:kuery,query:'", safe="():,") + quote(_rison(kql), safe=":,")
         + quote("'))", safe="():,"))
    return f"{base}/app/discover#/?_g={quote(g, safe='():,')}&_a={a}"


class Renderer:
    """Renders alerts for one notifier: title, body text, mentions, digest header."""

    def __init__(self, settings: NotifierSettings, *, default_template: str,
                 logger: logging.Logger, markup: Flavour = "markdown") -> None:
        self.settings = settings
        self.markup: Flavour = markup
        """How values from the cluster are escaped for this notifier (see markup.py)."""
        self.language = settings.language
        self.tz = ZoneInfo(settings.timezone)
        self.default_name = f"{settings.language}/{default_template}.j2"
        self.marker = card.TRUNCATION_MARKER[settings.language]
        self._log = logger
        self.refused_mentions = 0
        """Owner values from the cluster not mentioned (see mentions.py), once per alert."""
        self._refused_seen: dict[str, None] = {}
        builtin_template(self.default_name)  # fail at build time if it is missing

    def title(self, alert: Alert) -> str:
        return card.title(alert, self.language)

    def mentions(self, alert: Alert) -> mentions.Mentions:
        screened = mentions.screen(alert, self.settings.mention)
        if screened.refused:
            self._note_refused(alert, screened.refused)
        return mentions.resolve(alert, self.settings.mention, screened=screened)

    def _note_refused(self, alert: Alert, refused: tuple[str, ...]) -> None:
        # A digest or a body-size retry renders the same alert again: count and log it once.
        if alert.id in self._refused_seen:
            return
        if len(self._refused_seen) >= _CACHE_MAX:
            self._refused_seen.pop(next(iter(self._refused_seen)))
        self._refused_seen[alert.id] = None
        self.refused_mentions += 1
        shown = ", ".join(repr(v[:40]) for v in refused[:5])
        self._log.warning("notifier %s: owner value(s) %s of %s/%s not mentioned: neither an "
                          "owner in mention.users / mention.mobiles nor a plain id",
                          self.settings.name, shown, alert.namespace, alert.name)

    def digest_header(self, alerts: list[Alert], *, remaining: int) -> str:
        firing = sum(1 for a in alerts if a.status == "firing")
        return card.digest_header(self.language, count=len(alerts), firing=firing,
                                  resolved=len(alerts) - firing, remaining=remaining)

    def escape(self, text: str) -> str:
        return escape(text, self.markup)

    def escaped_title(self, alert: Alert) -> Trusted:
        """The title as the message body shows it: our prefix, the subject escaped."""
        prefix, subject = card.title_parts(alert, self.language)
        return Trusted(prefix + self.escape(subject))

    def context(self, alert: Alert) -> dict[str, Any]:
        """The template variables, every value from the cluster escaped for the notifier's
        markup (markup.py); only row labels and the Kibana link (config) are trusted."""
        view = alert.to_dict()
        view.pop("templates", None)
        view["workload"] = alert.workload
        link = Trusted(kibana_link(self.settings.kibana_url, self.settings.kibana_query, alert))
        linker = self.settings.silence_link
        silence = linker.url(alert) if linker is not None else ""
        rows = [{"label": Trusted(r["label"]), "value": r["value"],
                 "link": Trusted(r["link"]) if r["link"] else ""}
                for r in card.rows(alert, self.language, self.tz, link, silence)]
        escaped: dict[str, Any] = escape_tree({
            "alert": view, "fields": view["fields"],
            "labels": dict(alert.object_labels), "annotations": dict(alert.object_annotations),
            "title": self.escaped_title(alert), "rows": rows,
            "status": alert.status, "firing": alert.status == "firing",
            "resolved": alert.status == "resolved", "severity": alert.severity,
            "time": card.local_time(alert.at, self.tz),
            "started": card.local_time(alert.started_at, self.tz),
            "duration": card.duration(alert.at - alert.started_at, self.language),
            "kibana_url": link, "owners": mentions.owners(alert, self.settings.mention),
            "language": self.language, "notifier": self.settings.name,
            "platform": self.settings.type,
        }, self.markup)
        return escaped

    def override(self, alert: Alert) -> str:
        """The template text that replaces the built-in one for `alert` ("" if none)."""
        return (alert.templates.get(self.settings.name) or alert.templates.get(self.settings.type)
                or self.settings.template)

    def render(self, alert: Alert) -> str:
        ctx = self.context(alert)
        source = self.override(alert)
        if source:
            try:
                text = render_capped(compile_template(source), ctx).strip()
                if text:
                    return text
                self._log.error("template override for rule %s renders empty on notifier %s; "
                                "using the built-in template", alert.rule, self.settings.name)
            except Exception as e:  # a rule author's mistake must not lose the alert
                self._log.error("template override for rule %s failed on notifier %s (%s: %s); "
                                "using the built-in template", alert.rule, self.settings.name,
                                type(e).__name__, redact(e))
        try:
            return render_capped(builtin_template(self.default_name), ctx).strip()
        except Exception as e:
            self._log.error("built-in template %s failed for alert %s (%s: %s)",
                            self.default_name, alert.id, type(e).__name__, redact(e))
            return f"{ctx['title']}\n{self.escape(alert.summary)}"


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _rison(text: str) -> str:
    # Rison strings are quoted with ' ; inside, ! escapes ' and ! itself.
    return text.replace("!", "!!").replace("'", "!'")
