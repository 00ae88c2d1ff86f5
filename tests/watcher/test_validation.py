"""One validation path for `run`, reload, `config check` and `rules lint`: what the daemon
refuses, every checker refuses, each problem at the line of the offending key."""
from watcher.cli import main
from watcher.validation import check_rules

RULE = """\
name: warn
source: event
detector: any
notify:
  - ops
  - opps
template:
  wecom: |
    first line
    {% for x in %}
"""


def _files(tmp_path, rule=RULE):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yaml").write_text(rule)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"cluster: x\nrules: {{paths: [{rules}]}}\n"
                   "notifiers: {ops: {type: webhook, url: 'https://example.invalid/hook'}}\n")
    return rules / "r.yaml", cfg


def test_unknown_notifier_and_broken_template_are_named_at_their_lines(tmp_path):
    rule, _ = _files(tmp_path)
    result = check_rules([rule], builtins=False, notifiers={"ops": {}})
    shown = [str(p) for p in result.problems]
    assert any(s.startswith(f"{rule}:6: rule `warn` notifies unknown notifier `opps`") and "did you mean `ops`" in s
               for s in shown), shown
    # the template's own line 3 is the file's line 10
    assert any(s.startswith(f"{rule}:10: rule `warn` template for `wecom`:") for s in shown), shown
    assert len(shown) == 2 and not result.rules


def test_without_notifier_names_only_the_template_is_checked(tmp_path):
    rule, _ = _files(tmp_path)
    shown = [str(p) for p in check_rules([rule], builtins=False, notifiers=None).problems]
    assert len(shown) == 1 and shown[0].startswith(f"{rule}:10:")


def test_config_check_refuses_what_run_refuses(tmp_path, capsys):
    rule, cfg = _files(tmp_path)
    assert main(["config", "check", "-c", str(cfg)]) == 1
    err = capsys.readouterr().err
    assert f"{rule}:6: rule `warn` notifies unknown notifier `opps`" in err
    assert f"{rule}:10: rule `warn` template for `wecom`" in err


def test_rules_lint_with_config_checks_notifier_names(tmp_path, capsys):
    rule, cfg = _files(tmp_path)
    assert main(["rules", "lint", "-c", str(cfg), str(rule)]) == 1
    err = capsys.readouterr().err
    assert f"{rule}:6: rule `warn` notifies unknown notifier `opps`" in err and f"{rule}:10:" in err


def test_rules_lint_without_config_checks_templates_and_says_what_it_skipped(tmp_path, capsys):
    rule, _ = _files(tmp_path)
    assert main(["rules", "lint", str(rule)]) == 1
    err = capsys.readouterr().err
    assert f"{rule}:10: rule `warn` template for `wecom`" in err and "opps" not in err
    assert "-c" in err and "notifier" in err
    rule.write_text(RULE.replace("{% for x in %}", "{{ alert.summary }}"))
    assert main(["rules", "lint", str(rule)]) == 0


def test_a_quoted_template_is_named_at_its_key(tmp_path):
    rule, _ = _files(tmp_path, "name: warn\nsource: event\ndetector: any\ntemplate:\n  dingtalk: \"{{ x\"\n")
    shown = [str(p) for p in check_rules([rule], builtins=False, notifiers=None).problems]
    assert len(shown) == 1 and shown[0].startswith(f"{rule}:5: rule `warn` template for `dingtalk`"), shown


def test_a_template_that_crashes_the_template_parser_is_a_problem(tmp_path, capsys):
    deep = "{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}"
    rule, cfg = _files(tmp_path, f"name: warn\nsource: event\ndetector: any\ntemplate:\n  wecom: '{deep}'\n")
    shown = [str(p) for p in check_rules([rule], builtins=False, notifiers=None).problems]
    assert shown == [f"{rule}:5: rule `warn` template for `wecom`: cannot compile: RecursionError"]
    assert main(["config", "check", "-c", str(cfg)]) == 1
