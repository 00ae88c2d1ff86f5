"""Escaping values from the cluster: what no escaped value can contain, whatever it was."""
from __future__ import annotations

import json

from hypothesis import given, strategies as st

from notifiers.markup import Trusted, escape, escape_json, escape_tree

_hostile = st.text(alphabet=st.sampled_from(list("<>[]()*`~#@&\\!|_-:/.wh tp\n\r\u2028x所")),
                   max_size=40)


@given(_hostile)
def test_escaped_markdown_has_no_markup_and_stays_on_one_line(value: str) -> None:
    out = escape(value, "markdown")
    assert not set(out) & set("<>[]*`~#@&\\\n\r\u2028")
    assert "://" not in out and "www." not in out.lower()


@given(_hostile)
def test_escaped_text_has_no_mention_and_no_link(value: str) -> None:
    for flavour in ("text", "feishu_text"):
        out = escape(value, flavour)  # type: ignore[arg-type]
        assert "@" not in out and "\n" not in out and "://" not in out
    assert not set(escape(value, "feishu_text")) & set("<>")


@given(st.text(max_size=40))
def test_json_escaping_keeps_the_value_inside_its_string(value: str) -> None:
    assert json.loads(f'"{escape_json(value)}"') == value.encode("utf-8", "replace").decode()


def test_trusted_text_and_non_strings_pass_unchanged() -> None:
    tree = {"link": Trusted("[x](https://k)"), "n": 3, "ok": True, "none": None,
            "app.kubernetes.io/name": "<b>", "k<": ["@"]}
    assert escape_tree(tree, "markdown") == {"link": "[x](https://k)", "n": 3, "ok": True,
                                             "none": None, "app.kubernetes.io/name": "＜b＞",
                                             "k＜": ["＠"]}


def test_links_are_broken_wherever_they_start() -> None:
    assert escape("1http://e x-dingtalk://p Www.e.com", "text") == \
        "1http:\u200b//e x-dingtalk:\u200b//p Www\u200b.e.com"
