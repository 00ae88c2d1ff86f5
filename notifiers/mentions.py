"""Who to @mention: owners read from the object's label or annotation, mapped to platform ids.

The owner comes from a configurable pod/workload label (default `owner`) or annotation
(comma separated, for several owners). `mention.users` maps an owner to the platform's user
id (WeCom userid, DingTalk userId, Feishu open_id) and `mention.mobiles` to a phone number; an
owner with only a mobile is mentioned by mobile only. Each platform renders the result its own
way (WeCom `<@userid>`, DingTalk `at` + `@mobile` in the text, Feishu `<at user_id=…>`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from rules.alert import Alert

from .settings import MentionSettings

_SPLIT = re.compile(r"[,;\s]+")


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


def owners(alert: Alert, settings: MentionSettings) -> list[str]:
    found: list[str] = []
    if settings.annotation:
        found += _SPLIT.split(alert.object_annotations.get(settings.annotation, "") or "")
    if settings.label:
        found += _SPLIT.split(alert.object_labels.get(settings.label, "") or "")
    return list(_unique(tuple(o for o in found if o)))


def resolve(alert: Alert, settings: MentionSettings) -> Mentions:
    if alert.status == "resolved" and not settings.on_resolved:
        return Mentions()
    people = _unique(tuple(owners(alert, settings)) + settings.always)
    user_ids = tuple(settings.users.get(o, o) for o in people
                     if o in settings.users or o not in settings.mobiles)
    mobiles = tuple(settings.mobiles[o] for o in people if o in settings.mobiles)
    at_all = alert.status == "firing" and alert.severity in settings.at_all_severities
    return Mentions(user_ids=_unique(user_ids), mobiles=_unique(mobiles), at_all=at_all)


def _unique(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))
