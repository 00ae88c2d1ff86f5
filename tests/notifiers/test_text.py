"""Byte-limit cutting: UTF-8 bytes, character boundaries, room for the marker."""
from __future__ import annotations

from hypothesis import given, strategies as st

from notifiers.text import truncate_utf8, utf8_len


def test_text_within_the_limit_is_untouched() -> None:
    assert truncate_utf8("告警", 6) == ("告警", False)


def test_limit_counts_bytes_not_characters() -> None:
    text, cut = truncate_utf8("告警告警", 9, "…")  # 12 bytes
    assert cut and utf8_len(text) <= 9


def test_cut_never_splits_a_character() -> None:
    text, _ = truncate_utf8("告警" * 10, 10, "…", line_slack=0)  # marker 3 bytes, 7 left
    assert text == "告警…"


def test_cut_prefers_a_line_break_near_the_end() -> None:
    body = "line one\n" + "x" * 30
    text, _ = truncate_utf8(body, 36, "…", line_slack=0.9)
    assert text == "line one\n…"


@given(st.text(), st.integers(min_value=0, max_value=300), st.sampled_from(["…", "\n…（已截断）", ""]))
def test_result_fits_is_valid_and_a_prefix(text: str, limit: int, marker: str) -> None:
    out, cut = truncate_utf8(text, limit, marker)
    assert utf8_len(out) <= max(limit, 0)
    out.encode("utf-8")  # valid UTF-8: no lone surrogate halves from a cut
    if not cut:
        assert out == text
    elif utf8_len(marker) <= limit:
        assert out.endswith(marker) and text.startswith(out[: len(out) - len(marker)])
