"""Byte limits: robots count UTF-8 bytes, Chinese text is 3 bytes a character.

Cut on character boundaries and leave room for a marker, like Alertmanager's
`TruncateInBytes` (notify/util.go). A cut prefers the last line break near the limit so a
markdown line (a `<font>` tag, a link) is not left half open.
"""
from __future__ import annotations


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def truncate_utf8(text: str, max_bytes: int, marker: str = "…", *,
                  line_slack: float = 0.25) -> tuple[str, bool]:
    """Return `(text, False)` if it fits in `max_bytes` UTF-8 bytes, else a prefix cut on a
    character boundary plus `marker`, at most `max_bytes` long, and True.

    If a line break lies within the last `line_slack` share of the kept prefix, cut there
    instead, so the marker starts a line of its own and no markup line is left unfinished.
    """
    if max_bytes < 0:
        raise ValueError("max_bytes must be >= 0")
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text, False
    mark = marker.encode("utf-8")
    if len(mark) > max_bytes:
        # No room even for the marker: give the longest whole-character prefix of it.
        return mark[:max_bytes].decode("utf-8", errors="ignore"), True
    # The input is valid UTF-8, so only an incomplete sequence at the very end can be
    # dropped by errors="ignore": that is the character-boundary cut.
    kept = data[: max_bytes - len(mark)].decode("utf-8", errors="ignore")
    if line_slack > 0:
        newline = kept.rfind("\n")
        if newline >= 0 and newline >= len(kept) * (1 - line_slack):
            kept = kept[: newline + 1]
    return kept + marker, True
