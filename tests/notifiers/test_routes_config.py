"""`routing.routes` and `time_intervals` in the config: problems at file:line (`config check`),
and `routes test` printing where an alert goes."""
from __future__ import annotations

from pathlib import Path

import pytest

from watcher.cli import main
from watcher.config import ConfigError, build_routes, parse_config

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
HEAD = """\
timezone: Asia/Shanghai
notifiers:
  ops: {type: webhook, url: "https://x.invalid/ops"}
  shop: {type: webhook, url: "https://x.invalid/shop"}
routing:
  default: [ops]
"""


def errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_config(HEAD + text, "c.yaml", {})
    return [str(p) for p in err.value.problems]


@pytest.mark.parametrize(("text", "expected"), [
    ("  routes:\n    - matchers: [namespace=shop]\n      notify: [shpo]\n",
     "c.yaml:9: routing.routes.0.notify.0: no notifier named `shpo` (did you mean `shop`?)"),
    ("  routes:\n    - notify: [shop]\n    - matchers: [namespace=pay]\n",
     "c.yaml:9: routing.routes.1: unreachable: routing.routes[0] before it takes every alert"),
    ("  routes:\n    - matchers:\n        - namespace=shop\n        - severty=info\n",
     "c.yaml:10: routing.routes.0.matchers.1: unknown field `severty` (did you mean `severity`?)"),
    ("  routes:\n    - mute_time_intervals: [nigth]\ntime_intervals:\n  night:\n    - weekdays: [sunday]\n",
     "c.yaml:8: routing.routes.0.mute_time_intervals.0: no time interval named `nigth` (did you mean `night`?)"),
    ("time_intervals:\n  night:\n    - times: [{start_time: 18:00, end_time: \"24:00\"}]\n",
     "c.yaml:9: time_intervals.night.0.times.0.start_time: expected a time of day"),
    ("  routes: {matchers: []}\n", "c.yaml:7: routing.routes: expected a list of routes"),
])
def test_config_problems_name_file_line_and_key(text: str, expected: str) -> None:
    found = errors(text)
    assert any(f.startswith(expected) for f in found), found


def test_a_valid_tree_is_built_from_the_config() -> None:
    cfg = parse_config(HEAD + "  routes:\n    - matchers: ['namespace=${NS}']\n      notify: [shop]\n", "c.yaml", {"NS": "shop"})
    assert str(build_routes(cfg).root.routes[0].matchers[0]) == 'namespace="shop"'


@pytest.fixture
def robot_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for team in ("OPS", "SHOP"):
        monkeypatch.setenv(f"{team}_WECOM_URL", f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={team.lower()}-0")
    monkeypatch.setenv("PAY_DINGTALK_URL", "https://oapi.dingtalk.com/robot/send?access_token=pay0")
    monkeypatch.setenv("PAY_DINGTALK_SECRET", "SEC0123456789")


def test_the_two_team_example_passes_config_check(capsys: pytest.CaptureFixture[str], robot_env: None) -> None:
    assert main(["config", "check", "-c", str(EXAMPLES / "two-teams.yaml")]) == 0, capsys.readouterr().err


@pytest.mark.parametrize(("fields", "at", "robots", "sends"), [
    (["namespace=shop", "severity=critical"], "2026-12-01T03:00:00+08:00", "shop-wecom", True),
    (["namespace=shop-eu", "severity=info"], "2026-12-01T10:00:00+08:00", "shop-wecom", True),
    (["namespace=shop-eu", "severity=info"], "2026-12-01T19:00:00+08:00", "shop-wecom", False),
    (["namespace=pay-api", "severity=warning"], "2026-12-05T03:00:00+08:00", "pay-dingtalk", True),
    (["namespace=pay-api", "severity=info"], "2026-12-05T11:00:00+08:00", "pay-dingtalk", False),  # Saturday
    (["namespace=default", "labels.team=pay"], "2026-12-01T10:00:00+08:00", "pay-dingtalk", True),
    (["namespace=default"], "2026-12-01T10:00:00+08:00", "ops-wecom", True),
])
def test_the_two_team_example_routes_as_its_comments_say(robot_env: None, capsys: pytest.CaptureFixture[str],
                                                        fields: list[str], at: str, robots: str,
                                                        sends: bool) -> None:
    from datetime import datetime

    from watcher.config import load_config
    from watcher.routes_cli import alert_from

    cfg = load_config(EXAMPLES / "two-teams.yaml")
    match, = build_routes(cfg).targets(alert_from(fields, cfg.cluster), datetime.fromisoformat(at))
    assert (match.robots, match.sends) == ((robots,), sends)
    assert main(["config", "check", "-c", str(EXAMPLES / "two-teams.yaml")]) == 0, capsys.readouterr().err


def routes_test(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(HEAD + """\
  routes:
    - name: shop
      matchers: ["namespace=shop-*"]
      notify: [shop]
      mute_time_intervals: [night]
    - matchers: ["labels.team=pay"]
      notify: [shop, ops]
time_intervals:
  night:
    - times: [{start_time: "00:00", end_time: "06:00"}]
""")
    code = main(["routes", "test", "-c", str(cfg), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_routes_test_prints_path_robots_and_mute(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = routes_test(tmp_path, capsys, "--set", "namespace=shop-eu", "--set", "rule=oom-killed",
                               "--at", "2026-12-01T03:00:00+08:00")
    assert code == 0
    assert out == ('routing.default → routing.routes[0] (shop) {namespace="shop-*"}\n'
                   "  robots: shop  (muted: mute_time_intervals `night`)\n")


@pytest.mark.parametrize(("args", "robots"), [
    (["--set", "namespace=shop-eu", "--at", "2026-12-01T10:00:00"], "  robots: shop\n"),  # no offset: config timezone
    (["--set", "namespace=shop-eu", "--at", "2026-12-01T20:00:00+00:00"], "  robots: shop  (muted: mute_time_intervals `night`)\n"),
    (["--set", "namespace=pay", "--set", "labels.team=pay"], "  robots: shop, ops\n"),
    (["--set", "namespace=pay"], "  robots: ops\n"),
])
def test_routes_test_table(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], robots: str) -> None:
    code, out, _ = routes_test(tmp_path, capsys, *args)
    assert code == 0 and out.endswith(robots), out


@pytest.mark.parametrize(("args", "message"), [
    (["--set", "namspace=shop"], "unknown field `namspace` (did you mean `namespace`?)"),
    (["--set", "namespace"], "expected FIELD=VALUE"),
    (["--at", "tomorrow"], "expected an ISO 8601 time"),
    (["--set", "status=ok"], "expected firing or resolved"),
])
def test_routes_test_refuses_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    code, out, err = routes_test(tmp_path, capsys, *args)
    assert (code, out) == (2, "") and message in err


def test_a_bad_timezone_is_reported_once_not_at_every_interval_without_a_location() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(HEAD.replace("Asia/Shanghai", "Asia/Shangai") + "time_intervals:\n  night:\n    - weekdays: [sunday]\n",
                     "c.yaml", {})
    found = [str(p) for p in err.value.problems]
    assert "c.yaml:1: timezone: unknown time zone 'Asia/Shangai' (expected an IANA name like Asia/Shanghai)" in found
    assert not [f for f in found if "time_intervals" in f], found


def test_routes_test_shows_that_a_rules_own_notify_wins(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "r.yaml").write_text("rules:\n  - name: disk-full\n    source: event\n    detector: any\n    match: {reason: DiskFull}\n"
                                     "    notify: [ops]\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(HEAD + f"  routes:\n    - notify: [shop]\nrules:\n  paths: [{tmp_path / 'r.yaml'}]\n")
    assert main(["routes", "test", "-c", str(cfg), "--set", "rule=disk-full"]) == 0
    assert capsys.readouterr().out == "rule `disk-full` notify\n  robots: ops\n"
    assert main(["routes", "test", "-c", str(cfg), "--set", "rule=oom-killed"]) == 0
    assert capsys.readouterr().out.endswith("  robots: shop\n")


def test_the_two_team_example_groups_shop_and_escalates_pay(robot_env: None) -> None:
    from datetime import datetime, timedelta

    from watcher.config import load_config
    from watcher.routes_cli import alert_from

    cfg = load_config(EXAMPLES / "two-teams.yaml")
    now = datetime.fromisoformat("2026-12-01T10:00:00+08:00")
    shop, = build_routes(cfg).targets(alert_from(["namespace=shop"], cfg.cluster), now)
    pay, = build_routes(cfg).targets(alert_from(["namespace=pay-api", "severity=info"], cfg.cluster), now)
    assert (shop.group_wait, shop.group_interval, shop.escalate) == (timedelta(seconds=30), timedelta(minutes=5), ())
    assert [(s.after, s.notify) for s in pay.escalate] == [(timedelta(minutes=30), ("ops-wecom",))]  # inherited


def test_routes_test_prints_the_group_its_timing_and_the_escalation_steps(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(HEAD + """\
  routes:
    - name: shop
      matchers: ["namespace=shop"]
      notify: [shop]
      group_by: [namespace, rule]
      group_wait: 30s
      group_interval: 5m
      repeat_interval: 4h
      escalate:
        - {after: 30m, notify: [ops]}
        - {after: 1h30m, notify: [ops, shop]}
""")
    assert main(["routes", "test", "-c", str(cfg), "--set", "namespace=shop", "--set", "rule=oom-killed"]) == 0
    assert capsys.readouterr().out == (
        'routing.default → routing.routes[0] (shop) {namespace="shop"}\n'
        "  robots: shop\n"
        "  group: by namespace, rule (namespace=shop, rule=oom-killed)\n"
        "  timing: group_wait 30s, group_interval 5m, repeat_interval 4h\n"
        "  escalate: after 30m → ops; after 1h30m → ops, shop\n")


def test_the_readme_teams_section_shows_the_two_team_example_as_it_is() -> None:
    """The README's complete two-team example is examples/two-teams.yaml, byte for byte."""
    readme = (EXAMPLES.parent / "README.md").read_text(encoding="utf-8")
    teams = readme.split("\n## Teams\n", 1)[1].split("\n## ", 1)[0]
    block = teams.split("```yaml\n", 1)[1].split("```\n", 1)[0]
    assert block == (EXAMPLES / "two-teams.yaml").read_text(encoding="utf-8")
