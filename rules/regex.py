"""Rule regular expressions (`message: "~ pattern"`), searched in time linear in the text.

Event messages are written by whoever runs a pod, and the rules run on the daemon's one
pipeline thread. Python's `re` backtracks: `(?i)^(\\w+\\s?)*failed$` takes seconds on a
25-character message and hours on 40. Patterns therefore run on RE2 (google-re2), which never
backtracks. RE2 has no backreferences or lookaround, so a pattern using them is refused when
the rule is loaded, with the reason.

Rule authors write Python `re` syntax, and their patterns keep Python's meaning where RE2's
differs: `\\w`, `\\d`, `\\s` (and `\\W`, `\\D`, `\\S` outside `[...]`) are Unicode classes, as in
Python (RE2's are ASCII, so `\\w+` would not match 镜像拉取失败); `$` also matches before a final
newline; `\\Z` is the end of the text;
`\\uXXXX` / `\\UXXXXXXXX` are code points. `\\b` and, inside `[...]`, `\\W` and `\\S` keep RE2's
ASCII meaning. Plain words and alternations of words (`refused|reset`, optionally `(?i)`) skip
the pattern engines: substring tests (case-sensitive), or Python's `re`, which cannot
backtrack on a pattern without repetition or groups.
"""
from __future__ import annotations

import re
from typing import Callable

import re2

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # RE2 would print every refused pattern to stderr

# Python's classes for str patterns (RE2's own \w \d \s are ASCII).
_WORD = r"\p{L}\p{N}_"
_DIGIT = r"\p{Nd}"
_SPACE = r"\t\n\v\f\r \x{1c}-\x{1f}\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}"
_CLASSES = {"w": _WORD, "d": _DIGIT, "s": _SPACE}
_CODE_POINT = {"u": 4, "U": 8}

# A word or an alternation of words: no repetition, class, group or anchor.
_LITERAL_CHAR = r"(?:[^.^$*+?{}\[\]()\\|]|\\[^A-Za-z0-9])"
_WORDS = re.compile(rf"(?P<flags>\(\?i\))?(?P<body>{_LITERAL_CHAR}+(?:\|{_LITERAL_CHAR}+)*)")
_UNESCAPE = re.compile(r"\\(.)")
_SURROGATE = re.compile("[\ud800-\udfff]")
_MULTILINE = re.compile(r"\(\?[a-zA-Z]*m")


class PatternError(ValueError):
    """The pattern is invalid, or needs backtracking; the message says which and why."""


def compile_search(pattern: str) -> Callable[[str], bool]:
    """A test "does `pattern` occur anywhere in the text" (a search, not a full match)."""
    words = _WORDS.fullmatch(pattern)
    if words is not None:
        return _words_search(pattern, words)
    try:
        regex = re2.compile(to_re2(pattern), _RE2_OPTIONS)
    except re2.error as exc:
        raise PatternError(_reason(pattern, exc)) from None

    def search(text: str) -> bool:
        try:
            return regex.search(text) is not None
        except UnicodeEncodeError:  # a lone surrogate (JSON allows "\ud800"): RE2 reads UTF-8
            return regex.search(_SURROGATE.sub("\ufffd", text)) is not None

    return search


def _words_search(pattern: str, words: re.Match[str]) -> Callable[[str], bool]:
    if words["flags"]:
        regex = re.compile(pattern)
        return lambda text: regex.search(text) is not None
    alternatives = tuple(_UNESCAPE.sub(r"\1", w) for w in words["body"].split("|"))
    if len(alternatives) == 1:
        only = alternatives[0]
        return lambda text: only in text
    return lambda text: any(w in text for w in alternatives)


def to_re2(pattern: str) -> str:
    """`pattern` (Python `re` syntax) rewritten so RE2 gives it Python's meaning."""
    out: list[str] = []
    i, n, in_class = 0, len(pattern), False
    # Python's `$` also matches before a final newline; RE2's only at the end (without `m`).
    end = "$" if _MULTILINE.search(pattern) else r"(?:\n?\z)"
    while i < n:
        ch = pattern[i]
        if ch == "\\" and i + 1 < n:
            i = _escape(pattern, i, in_class, out)
            continue
        out.append(end if ch == "$" and not in_class else ch)
        i += 1
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            for opener in ("^", "]"):  # `[^`, `[]` and `[^]`: a leading `]` is a literal
                if pattern.startswith(opener, i):
                    out.append(opener)
                    i += 1
    return "".join(out)


def _escape(pattern: str, i: int, in_class: bool, out: list[str]) -> int:
    """Append the escape at `pattern[i]` (a backslash), rewritten; return the index after it."""
    esc = pattern[i + 1]
    body = _CLASSES.get(esc.lower())
    if body is not None and esc.islower():
        out.append(body if in_class else f"[{body}]")
    elif esc == "D":
        out.append(r"\P{Nd}")
    elif body is not None and not in_class:
        out.append(f"[^{body}]")
    elif esc == "Z":
        out.append(r"\z")
    elif esc in _CODE_POINT and re.fullmatch(r"[0-9A-Fa-f]+", pattern[i + 2:i + 2 + _CODE_POINT[esc]] or "-"):
        digits = pattern[i + 2:i + 2 + _CODE_POINT[esc]]
        out.append(f"\\x{{{digits}}}")
        return i + 2 + len(digits)
    else:
        out.append(pattern[i:i + 2])
    return i + 2


def _reason(pattern: str, exc: Exception) -> str:
    detail = exc.args[0] if exc.args else str(exc)
    if isinstance(detail, bytes):
        detail = detail.decode("utf-8", "replace")
    if re.search(r"\(\?P=|invalid escape sequence: \\[1-9]", detail):
        why = "backreferences (\\1, (?P=name)) are not supported"
    elif re.search(r"\(\?<?[=!]", detail):
        why = "lookaround ((?=, (?!, (?<=, (?<!) is not supported"
    else:
        try:
            re.compile(pattern)
        except re.error as py_exc:
            return f"invalid regular expression {pattern!r}: {py_exc}"
        why = f"RE2 cannot run it ({detail})"
    return (f"regular expression {pattern!r} cannot be used: {why}; rule patterns run on RE2, which matches "
            "in linear time on cluster text and has no backreferences or lookaround")
