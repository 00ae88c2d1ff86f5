"""Rule regexes run in linear time (RE2): a tenant's Event message cannot stall the pipeline,
patterns RE2 cannot run are lint errors that say why, and Python `re` habits keep working."""
import subprocess
import sys
from pathlib import Path

import pytest

from rules.loader import load_text
from rules.match import MatchError, compile_value

REPO = Path(__file__).resolve().parents[2]


def search(pattern: str, text: str) -> bool:
    return compile_value(f"~ {pattern}", ["match", "message"])(text)


def test_a_catastrophic_pattern_does_not_stall_on_a_short_message():
    # Python's re needs ~2^40 steps here (hours); a linear-time engine answers at once. The
    # subprocess bound only keeps a regression from hanging the suite: it is not a measurement.
    code = ("from rules.match import compile_value\n"
            "t = compile_value(r'~ (?i)^(\\w+\\s?)*failed$', ['m'])\n"
            "print(t('a' * 40 + '!'), t('back off failed'))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["False", "True"], out.stderr


@pytest.mark.parametrize("pattern, why", [
    (r"(a)\1", "backreference"), (r"(?P<x>a)(?P=x)", "backreference"),
    (r"foo(?=bar)", "lookaround"), (r"foo(?!bar)", "lookaround"), (r"(?<=x)y", "lookaround"), (r"(?<!x)y", "lookaround"),
])
def test_patterns_without_a_linear_time_match_are_refused_with_the_reason(pattern, why):
    with pytest.raises(MatchError) as err:
        compile_value(f"~ {pattern}", ["match", "message"])
    assert why in err.value.message and "RE2" in err.value.message and "linear" in err.value.message


def test_a_refused_pattern_is_a_lint_error_at_its_key():
    found = [str(p) for p in load_text("name: x\nsource: event\ndetector: any\nmatch:\n  reason: A\n"
                                       "  message: '~ (err|fail)\\s+\\1'\n", "r.yaml").problems]
    assert len(found) == 1 and found[0].startswith("r.yaml:6: rule `x`: regular expression") and "backreference" in found[0]


@pytest.mark.parametrize("pattern, text, expected", [
    (r"(?i)back-off", "Back-off restarting failed container", True),
    (r"(?i)OOM", "container was oomkilled", True),
    (r"timeout", "dial tcp: i/o timeout after 30s", True),          # search, not fullmatch
    (r"^timeout", "dial tcp: i/o timeout", False),
    (r"exit code \d+", "exit code 137", True),
    (r"\d{3}", "٣٤٥", True),                                         # Python's \d is Unicode
    (r"^\w+$", "镜像拉取失败", True),                                  # and so is \w
    (r"^\W", "失败", False),
    (r"a\sb", "a\u3000b", True),                                     # and \s
    (r"[\w.-]+@", "用户.name@", True),
    (r"\S+$", "x\u00a0", False),
    (r"failed\Z", "probe failed", True),
    (r"failed$", "probe failed\n", True), (r"failed$", "failed\nagain", False), (r"(?m)failed$", "failed\nagain", True),
    (r"[^]a]", "]", False), (r"\D+$", "x٣", False),
    (r"\u955c\u50cf", "镜像", True),
    (r"(?i)straße", "STRASSE", False),
    (r"refused|reset", "connection reset by peer", True),
    (r"Killing|Pulled", "Started", False),
])
def test_python_re_habits_keep_their_meaning(pattern, text, expected):
    assert search(pattern, text) is expected


def test_non_string_values_are_searched_as_text():
    assert compile_value("~ ^13[0-9]$", ["f"])(137) is True and compile_value("~ x", ["f"])(None) is False


def test_a_lone_surrogate_in_the_text_is_searched_not_raised():
    assert search(r"a.b", "a\ud800b") is True and search(r"^\w+$", "x\ud800") is False
