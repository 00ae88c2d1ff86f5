import pytest

from rules.loader import load_rule_set, load_text


def problems(text: str) -> list[str]:
    return [str(p) for p in load_text(text, "r.yaml").problems]


@pytest.mark.parametrize("text, line, fragment", [
    ("name: x\nsource: event\ndetector: any\nseverty: high\n", 4, "unknown key `severty` (did you mean `severity`?)"),
    ("name: x\nsource: evnt\ndetector: any\n", 2, "`source` must be one of event, pod, endpoints"),
    ("name: x\nsource: event\ndetector: sometimes\n", 3, "unknown detector `sometimes`"),
    ("name: x\nsource: event\n", 1, "`detector` is required"),
    ("source: event\ndetector: any\n", 1, "`name` is required"),
    ("name: x\nsource: event\ndetector: oom_killed\n", 3, "does not apply to source `event`"),
    ("name: x\nsource: pod\ndetector: {type: oom_killed, reason: [a]}\n", 3, "unknown option `reason`"),
    ("name: x\nsource: event\ndetector: {type: frequency, window: 5m}\n", 3, "`threshold` must be a whole number"),
    ("name: x\nsource: event\ndetector: {type: frequency, threshold: 3}\n", 3, "`window` is required"),
    ("name: x\nsource: event\ndetector: any\nmatch:\n  reasn: BackOff\n", 5, "unknown field `reasn` for source `event` (did you mean `reason`?)"),
    ("name: x\nsource: event\ndetector: any\nmatch:\n  message: '~ (oops'\n", 5, "invalid regular expression"),
    ("name: x\nsource: event\ndetector: any\nmatch:\n  count: {bigger: 3}\n", 5, "unknown operator `bigger`"),
    ("name: x\nsource: event\ndetector: any\nmatch:\n  labels: 'app=web,,tier in'\n", 5, "invalid label selector term"),
    ("name: x\nsource: event\ndetector: any\nmatch:\n  namespaces: [a]\n", 5, "expected a mapping with `include`"),
    ("name: x\nsource: event\ndetector: any\nfor: 5m\n", 4, "`for` applies to condition detectors"),
    ("name: x\nsource: endpoints\ndetector: endpoints_unhealthy\nresolve_after: 5m\n", 4, "`resolve_after` applies to instant"),
    ("name: x\nsource: event\ndetector: any\nrepeat_interval: soon\n", 4, "expected a duration"),
    ("name: x\nsource: event\ndetector: any\nseverity: page\n", 4, "`severity` must be one of critical, warning, info"),
    ("name: x\nsource: event\ndetector: any\ngroup_by: [reason, podname]\n", 4, "unknown field `podname` in group_by"),
    ("name: x\nsource: event\ndetector: any\nnotify: {a: b}\n", 4, "`notify` must be a list of names"),
    ("name: x\nsource: event\ndetector: any\ntemplate: hello\n", 4, "`template` must map a notifier"),
    ("name: x\nsource: event\ndetector: any\nenabled: yes please\n", 4, "`enabled` must be true or false"),
    ("name: x\nsource: endpoints\ndetector: {type: endpoints_unhealthy, min_ready: 1, min_ready_ratio: 0.5}\n", 3, "not both"),
    ("name: x\nsource: endpoints\ndetector: {type: endpoints_unhealthy, min_ready_ratio: 2}\n", 3, "in (0, 1]"),
    ("name: x\nsource: event\ndetector: any\nname: y\n", 4, "duplicate key `name`"),
    ("rules:\n  - name: x\n    source: event\n    detector: [any\n", 5, "invalid YAML"),
    ("rules: 5\n", 1, "expected a list of rules"),
    ("- 42\n", 1, "a rule must be a mapping"),
    ("", 1, "no rules in file"),
])
def test_lint_errors_name_file_line_and_problem(text, line, fragment):
    found = problems(text)
    assert any(p.startswith(f"r.yaml:{line}: ") and fragment in p for p in found), found


def test_duplicate_rule_names_across_files(tmp_path):
    from rules.loader import load_files

    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("name: dup\nsource: event\ndetector: any\n")
    b.write_text("\n\nname: dup\nsource: pod\ndetector: any\n")
    result = load_files([a, b])
    assert [str(p) for p in result.problems] == [f"{b}:3: rule `dup` is already defined at {a}:1"]
    b.write_text("- source: pod\n  detector: any\n  name: dup\n")
    result = load_files([a, b])
    assert [str(p) for p in result.problems] == [f"{b}:3: rule `dup` is already defined at {a}:1"]  # the `name:` line


def test_several_documents_and_rule_lists():
    result = load_text("""
rules:
  - {name: a, source: event, detector: any}
  - {name: b, source: pod, detector: any}
---
name: c
source: endpoints
detector: endpoints_unhealthy
""", "m.yaml")
    assert result.ok and [r.name for r in result.rules] == ["a", "b", "c"]
    assert result.rules[2].origin == "m.yaml:6"


def test_user_rule_replaces_builtin_of_same_name(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("name: endpoints-unhealthy\nsource: endpoints\ndetector: {type: endpoints_unhealthy, min_ready: 1}\n")
    result = load_rule_set([tmp_path])
    names = [r.name for r in result.rules]
    assert names.count("endpoints-unhealthy") == 1 and "oom-killed" in names
    assert next(r for r in result.rules if r.name == "endpoints-unhealthy").detector.min_ready == 1


def test_builtins_are_valid_and_on():
    result = load_rule_set([])
    assert result.ok
    assert {r.name: r.enabled for r in result.rules} == {"oom-killed": True, "endpoints-unhealthy": True}
