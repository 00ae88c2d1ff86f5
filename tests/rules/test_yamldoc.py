"""Hostile YAML is a `file:line: message` problem, never a crash or a stall: recursive aliases,
nesting deeper than any rule needs, alias bombs and oversized files are refused while loading."""
import pytest

from rules.loader import load_text
from rules.yamldoc import MAX_BYTES, YamlDocError, load_documents


def _problem(text: str) -> str:
    with pytest.raises(YamlDocError) as err:
        load_documents(text, "h.yaml")
    return str(err.value.problem)


def billion_laughs(levels: int = 9, width: int = 9) -> str:
    lines = ['l0: &l0 "lol"']
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


def test_recursive_alias_is_refused_at_its_line():
    assert _problem("name: x\nmatch: &m\n  reason: [*m]\n").startswith("h.yaml:3: recursive YAML alias")


def test_deep_nesting_is_refused():
    text = "name: x\nmatch: " + "[" * 5000 + "]" * 5000 + "\n"
    assert _problem(text).startswith("h.yaml:2: YAML nested deeper than")


def test_deep_nesting_through_aliases_is_refused():
    lines = ["a0: &a0 x"] + [f"a{i}: &a{i} [*a{i - 1}]" for i in range(1, 3000)]
    assert "nested deeper than" in _problem("\n".join(lines) + "\n")


def test_alias_bomb_is_refused_without_expanding_it():
    assert "YAML aliases expand to more than" in _problem(billion_laughs())


def test_oversized_file_is_refused():
    text = "name: x\ndescription: '" + "a" * MAX_BYTES + "'\n"
    assert _problem(text) == f"h.yaml:1: file is larger than {MAX_BYTES // 1024 // 1024} MiB: not a rule or config file"


def test_ordinary_aliases_still_work():
    text = ("common: &common {type: Warning}\nrules:\n"
            "  - {name: a, source: event, detector: any, match: *common}\n"
            "  - {name: b, source: event, detector: any, match: *common}\n")
    result = load_text(text.replace("common: &common {type: Warning}\n", "").replace("*common", "{type: Warning}"), "ok.yaml")
    assert result.ok
    data, _ = load_documents(text, "ok.yaml")[0]
    assert data["rules"][1]["match"] == {"type": "Warning"}


def test_hostile_rule_file_is_a_loader_problem():
    result = load_text("name: x\nmatch: &m\n  reason: [*m]\n", "h.yaml")
    assert [str(p) for p in result.problems][0].startswith("h.yaml:3: recursive YAML alias")


@pytest.mark.parametrize("value", ["1" * 5000, "2001-13-45", "2001-02-30 10:00:00", "!!timestamp foo", "!!int xyz",
                                   "!!float xyz"])
def test_a_scalar_the_yaml_constructor_chokes_on_is_an_invalid_value(value):
    for text in (f"name: {value}\n", f"? {value}\n: x\n"):
        assert _problem(text).startswith("h.yaml:1: invalid value")
