"""The per-robot limiter on a fake clock: token pacing, hard rolling windows, pauses."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from notifiers.ratelimit import RateLimiter
from tests.notifiers.receivers import FakeClock, max_in_window


def _limiter(clock: FakeClock, *, rate: int = 18, burst: int = 5,
             windows: tuple = ((60.0, 18),)) -> RateLimiter:
    return RateLimiter(rate_per_minute=rate, burst=burst, windows=windows,
                       monotonic=clock.monotonic)


def _drain(limiter: RateLimiter, clock: FakeClock, seconds: float) -> list[float]:
    """Send as fast as the limiter allows for `seconds` of fake time."""
    sent, end = [], clock.monotonic() + seconds
    while clock.monotonic() < end:
        wait = limiter.try_acquire()
        if wait == 0:
            sent.append(clock.monotonic())
        else:
            clock.sleep(wait)
    return sent


def test_burst_goes_out_back_to_back_then_paced() -> None:
    clock = FakeClock()
    limiter = _limiter(clock)
    assert [limiter.try_acquire() for _ in range(5)] == [0.0] * 5
    assert 3.0 < limiter.try_acquire() <= 60 / 18


def test_full_bucket_plus_refill_never_exceeds_the_rolling_window() -> None:
    clock = FakeClock()
    sent = _drain(_limiter(clock), clock, 600)
    assert max_in_window(sent, 60.0) <= 18
    assert len(sent) >= 18 * 9  # and it does not starve either


def test_feishu_style_per_second_window_holds() -> None:
    clock = FakeClock()
    sent = _drain(_limiter(clock, rate=90, burst=10, windows=((1.0, 4), (60.0, 90))), clock, 120)
    assert max_in_window(sent, 1.0) <= 4
    assert max_in_window(sent, 60.0) <= 90


def test_pause_holds_every_send_until_it_ends() -> None:
    clock = FakeClock()
    limiter = _limiter(clock)
    limiter.pause(600, reason="130101")
    assert limiter.available() == 0
    assert 599 < limiter.try_acquire() <= 600
    clock.advance(600)
    assert limiter.try_acquire() == 0.0


def test_a_shorter_pause_does_not_shorten_a_running_one() -> None:
    clock = FakeClock()
    limiter = _limiter(clock)
    limiter.pause(600)
    limiter.pause(60)
    assert limiter.paused_for() > 599


def test_available_counts_what_could_leave_now() -> None:
    clock = FakeClock()
    limiter = _limiter(clock, burst=5)
    limiter.try_acquire()
    limiter.try_acquire()
    assert limiter.available() == 3


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=30), min_size=1, max_size=120),
       st.integers(min_value=1, max_value=20), st.integers(min_value=1, max_value=20))
def test_no_arrival_pattern_breaks_the_window(gaps: list[float], rate: int, burst: int) -> None:
    clock = FakeClock()
    limiter = _limiter(clock, rate=rate, burst=burst, windows=((60.0, rate),))
    sent = []
    for gap in gaps:
        clock.advance(gap)
        while (wait := limiter.try_acquire()) > 0:
            clock.sleep(wait)
        sent.append(clock.monotonic())
    assert max_in_window(sent, 60.0) <= rate
