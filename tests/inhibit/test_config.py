"""`inhibit_rules:` and `inhibition:` in the config: the rules built, problems at file:line."""
from __future__ import annotations

from datetime import timedelta

import pytest

from notifiers.inhibition import Inhibitor
from watcher.cli import main
from watcher.config import ConfigError, build_inhibit_rules, parse_config
from tests.inhibit.helpers import at, node_not_ready, oom, unhealthy

HEAD = """\
notifiers:
  ops: {type: webhook, url: "https://x.invalid/ops"}
routing:
  default: [ops]
"""


def errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_config(HEAD + text, "c.yaml", {})
    return [str(p) for p in err.value.problems]


@pytest.mark.parametrize(("text", "expected"), [
    ("inhibit_rules:\n  - source_matchers: [rule=a]\n    target_matchers: [rule=b]\n    equal: [namespce]\n",
     "c.yaml:8: inhibit_rules.0.equal.0: unknown field `namespce` (did you mean `namespace`?)"),
    ("inhibit_rules:\n  - source_matchers: [rul=a]\n    target_matchers: [rule=b]\n",
     "c.yaml:6: inhibit_rules.0.source_matchers.0: unknown field `rul`"),
    ("inhibit_rules:\n  - target_matchers: [rule=b]\n",
     "c.yaml:6: inhibit_rules.0.source_matchers: expected a non-empty list of matchers"),
    ("inhibit_rules:\n  - source_matchers: [rule=a]\n    target_matchers: [rule=b]\n    look_ahead: soon\n",
     "c.yaml:8: inhibit_rules.0.look_ahead: expected a duration like 30s"),
    ("inhibit_rules:\n  - source_matchers: [rule=a]\n    target_matchers: [rule=b]\n    fro: 10m\n",
     "c.yaml:8: inhibit_rules.0.fro: unknown key `fro` (did you mean `for`?)"),
    ("inhibit_rules:\n  - source_matchers: [rule=a]\n    target_matchers: [rule=a]\n",
     "c.yaml:7: inhibit_rules.0.target_matchers: the same as source_matchers"),
    ("inhibit_rules:\n  - source_matchers: [rule=a, status=resolved]\n    target_matchers: [rule=b]\n",
     "c.yaml:6: inhibit_rules.0.source_matchers.1: only firing alerts are sources"),
    ("inhibit_rules:\n  - source_matchers: [rule=a]\n    target_matchers: ['fields.x=~(']\n",
     "c.yaml:7: inhibit_rules.0.target_matchers.0: regular expression '(' cannot be used"),
    ("inhibit_rules: {source_matchers: [rule=a]}\n", "c.yaml:5: inhibit_rules: expected a list"),
    ("inhibition: {builtin: maybe}\n", "c.yaml:5: inhibition.builtin: expected true or false"),
    ("inhibition: {node_not_ready_for: 0s}\n", "c.yaml:5: inhibition.node_not_ready_for: must be longer than 0s"),
])
def test_config_problems_name_file_line_and_key(text: str, expected: str) -> None:
    found = errors(text)
    assert any(f.startswith(expected) for f in found), found


def test_config_check_exits_non_zero_naming_the_line(tmp_path, capsys) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(HEAD + "inhibit_rules:\n  - source_matchers: [rule=a]\n    target_matchers: [rule=b]\n    equal: [nod]\n")
    assert main(["config", "check", "-c", str(path)]) != 0
    out = capsys.readouterr()
    assert f"{path}:8: inhibit_rules.0.equal.0: unknown field `nod` (did you mean `node`?)" in out.out + out.err


def test_builtins_are_on_by_default_and_follow_the_config() -> None:
    cfg = parse_config(HEAD + "inhibition: {node_not_ready_for: 2m}\n", "c.yaml", {})
    inhibitor = Inhibitor(build_inhibit_rules(cfg))
    inhibitor.observe(node_not_ready(t=0))
    assert inhibitor.inhibitor_of(oom(t=10), at(119)) is not None
    assert inhibitor.inhibitor_of(oom(t=10), at(120)) is None


def test_builtins_switch_off_and_own_rules_apply() -> None:
    cfg = parse_config(HEAD + "inhibition: {builtin: false}\ninhibit_rules:\n"
                       "  - source_matchers: [detector=endpoints_unhealthy]\n"
                       "    target_matchers: [rule=oom-killed, 'fields.backs_service!=false']\n"
                       "    equal: [namespace, {source: fields.cause.workload, target: workload}]\n"
                       "    look_ahead: 1m\n", "c.yaml", {})
    rules = build_inhibit_rules(cfg)
    assert len(rules) == 1 and rules[0].look_ahead == timedelta(minutes=1)
    inhibitor = Inhibitor(rules)
    inhibitor.observe(node_not_ready())
    inhibitor.observe(unhealthy(cause_workload="web"))
    assert inhibitor.inhibitor_of(oom(workload="web"), at(60)).rule == "endpoints-unhealthy"
    assert inhibitor.inhibitor_of(oom(workload="api", node="node-1"), at(60)) is None
    assert inhibitor.look_ahead(oom(backs_service=False)) == timedelta(0)


def test_the_loaded_endpoints_rules_for_sets_the_oom_look_ahead() -> None:
    cfg = parse_config(HEAD, "c.yaml", {})
    inhibitor = Inhibitor(build_inhibit_rules(cfg, endpoints_for=timedelta(minutes=1)))
    assert inhibitor.look_ahead(oom()) == timedelta(seconds=75)


def test_the_oom_look_ahead_follows_the_longest_endpoints_rule_loaded() -> None:
    from rules.loader import load_rule_set, load_text
    from watcher.decisions import endpoints_for

    own = load_text("rules:\n  - name: shop-endpoints\n    source: endpoints\n    detector: endpoints_unhealthy\n"
                    "    for: 2m\n", "r.yaml")
    assert own.ok, own.problems
    assert endpoints_for(load_rule_set([]).rules) == timedelta(seconds=30)
    assert endpoints_for(load_rule_set([]).rules + own.rules) == timedelta(minutes=2)
    assert endpoints_for([]) is None
