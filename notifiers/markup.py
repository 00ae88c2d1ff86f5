"""What a value from the cluster may do in a message: be read, nothing else.

Event messages, container termination messages, annotations, even reasons are written by the
workload or whoever deploys it. Put raw into WeCom / DingTalk markdown or Feishu lark_md, such
a value could forge a second card line (`\\n【恢复】…`), a heading or a quote, a link
(`[点此](http://evil)`), a `<font>` tag, or a mention (`<@all>`, `<at id=all>`, `@138…`).
So every value enters the templates escaped for the notifier's markup (`escape_tree`, called
by the Renderer on the whole template context, built-in or a rule author's template alike);
only our own text is `Trusted` and goes in as it is: row labels and the Kibana link, which
comes from the config.

The platforms document no escape syntax they all honour (a backslash is shown literally by
some), so markup characters are replaced by their full-width look-alikes (`<` → `＜`, `[` →
`［`, `@` → `＠` …), which no renderer reads as markup and every reader still understands. A
`scheme://` or `www.` gets a zero-width space so that no client turns it into a link. Line
breaks inside a value become spaces: a value stays on its own line of the card.

Flavours: `markdown` (WeCom and DingTalk markdown, Feishu lark_md), `text` (plain-text
messages: only mentions and links are neutralised), `feishu_text` (text that Feishu parses for
`<at …>` tags), `json` (a generic webhook's JSON template: a value cannot leave its string).
"""
from __future__ import annotations

import functools
import re
from typing import Any, Callable, Literal

import orjson

Flavour = Literal["markdown", "text", "feishu_text", "json"]


class Trusted(str):
    """Text from our own code or the config, emitted as it is (a row label, the Kibana link).
    Anything computed from it in a template is a plain `str` again, and escaped."""

    __slots__ = ()


_BREAKS = re.compile(r"[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]+")
_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1b\x1f\x7f]")
_WWW = re.compile(r"(?i)(www)\.")
_ZW = "\u200b"
_MENTIONS = str.maketrans({"@": "＠"})
_ANGLES = str.maketrans({"@": "＠", "<": "＜", ">": "＞"})
_MARKDOWN = str.maketrans({
    "<": "＜", ">": "＞",          # <font>, <@userid>, <at id=…>, quotes
    "[": "［", "]": "］",          # links and images
    "*": "＊", "`": "｀", "~": "～",  # bold, code, strike-through
    "#": "＃", "@": "＠", "&": "＆",  # headings, @mobile mentions, entities
    "\\": "＼",                    # a trailing backslash would escape our own markup
})
_PLAIN_KEY = re.compile(r"[\w./-]*")


def _one_line(text: str) -> str:
    return _CONTROLS.sub("", _BREAKS.sub(" ", text))


def _unlinked(text: str) -> str:
    return _WWW.sub(r"\1" + _ZW + ".", text.replace("://", ":" + _ZW + "//"))


# Most values (names, IPs, numbers) need nothing: one search decides, instead of four passes.
_ANY_BREAK = r"[\x00-\x1f\x7f\x85\u2028\u2029]|://|(?i:www\.)"
_NEEDS_MARKDOWN = re.compile(r"[<>\[\]*`~#@&\\]|" + _ANY_BREAK)
_NEEDS_TEXT = re.compile(r"@|" + _ANY_BREAK)
_NEEDS_FEISHU_TEXT = re.compile(r"[@<>]|" + _ANY_BREAK)


def escape_markdown(text: str) -> str:
    if not _NEEDS_MARKDOWN.search(text):
        return text
    return _unlinked(_one_line(text).translate(_MARKDOWN))


def escape_text(text: str) -> str:
    if not _NEEDS_TEXT.search(text):
        return text
    return _unlinked(_one_line(text).translate(_MENTIONS))


def escape_feishu_text(text: str) -> str:
    if not _NEEDS_FEISHU_TEXT.search(text):
        return text
    return _unlinked(_one_line(text).translate(_ANGLES))


def escape_json(text: str) -> str:
    """The inside of a JSON string literal (quotes, backslashes and controls escaped)."""
    try:
        return orjson.dumps(text).decode("utf-8")[1:-1]
    except TypeError:  # a lone surrogate (from \\ud800 in the object's JSON)
        return orjson.dumps(text.encode("utf-8", "replace").decode("utf-8")).decode("utf-8")[1:-1]


ESCAPES: dict[str, Callable[[str], str]] = {
    "markdown": escape_markdown, "text": escape_text, "feishu_text": escape_feishu_text,
    "json": escape_json,
}


def escape(text: str, flavour: Flavour) -> str:
    return text if isinstance(text, Trusted) else ESCAPES[flavour](text)


def escape_tree(value: Any, flavour: Flavour) -> Any:
    """`value` with every string in it (dict keys too, unless plain) escaped; `Trusted`
    strings, numbers, booleans and None unchanged. Lists and tuples become lists."""
    fn = ESCAPES[flavour]

    def walk(v: Any) -> Any:
        if type(v) is str:  # the common case first; Trusted is a subclass
            return fn(v)
        if isinstance(v, Trusted):
            return v
        if isinstance(v, dict):
            return {_key(k, fn): walk(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [walk(x) for x in v]
        if v is None or isinstance(v, (bool, int, float)):
            return v
        return fn(str(v))

    return walk(value)


def _key(key: Any, fn: Callable[[str], str]) -> Any:
    # Label and annotation keys are Kubernetes-validated names: keep them as they are, so
    # `labels["app.kubernetes.io/name"]` still finds its value.
    if not isinstance(key, str) or _plain_key(key):
        return key
    return fn(key)


@functools.lru_cache(maxsize=4096)
def _plain_key(key: str) -> bool:
    return bool(_PLAIN_KEY.fullmatch(key))
