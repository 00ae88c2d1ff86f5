"""Who to @mention: owners read from the object's label or annotation, mapped to platform ids.

The owner comes from a configurable pod/workload label (default `owner`) or annotation
(comma separated, for several owners). `mention.users` maps an owner to the platform's user
id (WeCom userid, DingTalk userId, Feishu open_id) and `mention.mobiles` to a phone number; an
owner with only a mobile is mentioned by mobile only. Each platform renders the result its own
way (WeCom `<@userid>`, DingTalk `at` + `@mobile` in the text, Feishu `<at user_id=…>`).

Labels and annotations are written by whoever deploys a workload, not by us: `owner: all`
would page the whole group (`<@all>`, `<at id=all>`, DingTalk `所有人`). So a value from the
cluster is mentioned only if the config names it as an owner (a key of `users` / `mobiles`)
or if it is a plain id: a letter or digit, then letters, digits and `_ . @ -`, at most 64
characters (the WeCom userid alphabet, which covers DingTalk userIds, Feishu open_ids /
user_ids and mobile numbers), and not `all` in any case. Everything else is refused, and the
caller counts and logs it. @all comes only from the notifier's own `at_all_severities`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from rules.alert import Alert

from .settings import MentionSettings

_SPLIT = re.compile(r"[,;\s]+")
_PLAIN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
_RESERVED = frozenset({"all"})
"""Ids that mean "everyone" on some platform (WeCom `@all`, Feishu `all`), compared casefolded."""


@dataclass(frozen=True, slots=True)
class Mentions:
    user_ids: tuple[str, ...] = ()
    mobiles: tuple[str, ...] = ()
    at_all: bool = False

    def __bool__(self) -> bool:
        return bool(self.user_ids or self.mobiles or self.at_all)

    def merge(self, other: "Mentions") -> "Mentions":
        return Mentions(user_ids=_unique(self.user_ids + other.user_ids),
                        mobiles=_unique(self.mobiles + other.mobiles),
                        at_all=self.at_all or other.at_all)


@dataclass(frozen=True, slots=True)
class Owners:
    accepted: tuple[str, ...]
    refused: tuple[str, ...]
    """Values from the cluster that are neither configured owners nor plain ids."""


def screen(alert: Alert, settings: MentionSettings) -> Owners:
    """The owners named by the object's annotation and label, sorted into mentionable ones
    and refused ones."""
    found: list[str] = []
    if settings.annotation:
        found += _SPLIT.split(_text(alert.object_annotations.get(settings.annotation)))
    if settings.label:
        found += _SPLIT.split(_text(alert.object_labels.get(settings.label)))
    accepted: list[str] = []
    refused: list[str] = []
    for owner in _unique(tuple(o for o in found if o)):
        (accepted if _mentionable(owner, settings) else refused).append(owner)
    return Owners(tuple(accepted), tuple(refused))


def owners(alert: Alert, settings: MentionSettings) -> list[str]:
    return list(screen(alert, settings).accepted)


def resolve(alert: Alert, settings: MentionSettings, *,
            screened: Owners | None = None) -> Mentions:
    if alert.status == "resolved" and not settings.on_resolved:
        return Mentions()
    found = screened if screened is not None else screen(alert, settings)
    people = _unique(found.accepted + settings.always)
    user_ids = tuple(settings.users.get(o, o) for o in people
                     if o in settings.users or o not in settings.mobiles)
    mobiles = tuple(settings.mobiles[o] for o in people if o in settings.mobiles)
    at_all = alert.status == "firing" and alert.severity in settings.at_all_severities
    return Mentions(user_ids=_unique(user_ids), mobiles=_unique(mobiles), at_all=at_all)


def is_plain_id(value: str) -> bool:
    return bool(_PLAIN_ID.fullmatch(value)) and value.casefold() not in _RESERVED


def _mentionable(owner: str, settings: MentionSettings) -> bool:
    return owner in settings.users or owner in settings.mobiles or is_plain_id(owner)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _unique(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))
