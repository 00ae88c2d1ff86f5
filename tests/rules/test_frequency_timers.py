"""The order of a frequency rule's expiries is behaviour: resolutions due at the same moment
come out in the order the windows' timers were set (each window's oldest hit), and a tick that
forgot a window stays done when the clock later goes back. Pinned here for any change to how
windows are timed (a timer only for windows that can fire was tried: tests below are the cases
where a simpler version of it differed)."""
from __future__ import annotations

from rules.engine import Engine
from rules.loader import load_text
from tests.factories import at, event, rec


def _rules(threshold: int, window: int):
    text = f"""
- {{name: per-pod, source: event, match: {{reason: BackOff}}, detector: {{type: frequency, threshold: {threshold}, window: {window}s}}}}
"""
    loaded = load_text(text, "timers.yaml")
    assert loaded.ok, loaded.problems
    return loaded.rules


def _run(rules, steps):
    """(key, status) of the alerts of `steps`: (name, pod, hit second, now second) hits, or
    ("tick", now second)."""
    eng, out = Engine(rules, stale_before=at(0)), []
    for step in steps:
        if step[0] == "tick":
            out += eng.tick(at(step[1]))
        else:
            name, pod, hit, now = step
            out += eng.process(rec(event(name, reason="BackOff", type_="Normal", involved=pod, last=hit), "ADDED"),
                               at(now))
    return [(a.key, a.status) for a in out]


def test_resolutions_due_together_come_in_the_order_the_windows_began():
    # pod-1's window began first; pod-2's got its second hit first. Both resolve at the same
    # tick, due at the same second: pod-1 first, its timer was set first.
    steps = [("k1", "pod-1", 0, 0), ("j1", "pod-2", 0, 0), ("j2", "pod-2", 0, 0), ("k2", "pod-1", 0, 0), ("tick", 61)]
    assert _run(_rules(2, 60), steps) == [
        ("shop/Pod/pod-2/BackOff", "firing"), ("shop/Pod/pod-1/BackOff", "firing"),
        ("shop/Pod/pod-1/BackOff", "resolved"), ("shop/Pod/pod-2/BackOff", "resolved")]


def test_a_tick_that_forgot_a_window_still_counts_when_the_clock_goes_back():
    # pod-1's late hit (at 20, seen at 50) leaves the window at 80, pod-2's at 110. The tick at
    # 90 forgets pod-1's; a tick at 30 (the clock went back) does not bring it back: the hit at
    # 25 is then alone in the window, not the second of two.
    steps = [("a1", "pod-2", 50, 50), ("k1", "pod-1", 20, 50), ("tick", 90), ("tick", 30), ("k2", "pod-1", 25, 25)]
    assert _run(_rules(2, 60), steps) == []
