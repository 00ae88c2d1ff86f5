"""The pure silence model as tables: which alerts a silence matches, when it is active, which
silence of a snapshot silences an alert, and what `from_dict` refuses (naming the field)."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from notifiers.routes import parse_matcher
from notifiers.samples import sample_alert
from notifiers.silences import Silence, Silences
from rules.alert import Alert

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)


def alert(**changes: Any) -> Alert:
    """An OOM of rule `oom-killed`, namespace `shop`, key `shop/order-api-7d9f8b6c5-x2k4p/app`."""
    return replace(sample_alert("oom", now=NOW), **changes)


def silence(*matchers: str, start: datetime = NOW - HOUR, end: datetime = NOW + HOUR,
            id: str = "s-1") -> Silence:
    return Silence(id=id, matchers=tuple(parse_matcher(m) for m in matchers), starts_at=start,
                   ends_at=end, created_by="zhangsan", comment="扩容中", created_at=NOW - HOUR)


@pytest.mark.parametrize(("matchers", "changes", "expected"), [
    (("namespace=shop",), {}, True),
    (("namespace=shop", "rule=oom-killed"), {}, True),
    (("namespace=shop", "rule=oom-killed"), {"rule": "pod-crashloop"}, False),  # all must hold
    (("namespace=shop-*",), {"namespace": "shop-2"}, True),
    (("namespace!=shop",), {}, False),
    (("labels.team=pay",), {"object_labels": {"team": "pay"}}, True),
    (("labels.team=pay",), {}, False),
    (("rule=oom-killed", "key=shop/order-api-7d9f8b6c5-x2k4p/app"), {}, True),
    (("rule=oom-killed", "key=shop/order-api-7d9f8b6c5-x2k4p/app"), {"key": "shop/other/app"}, False),
    (("severity=~warning|critical",), {}, True),
    (("status=firing",), {"status": "resolved"}, False),
])
def test_matches(matchers: tuple[str, ...], changes: dict[str, Any], expected: bool) -> None:
    assert silence(*matchers).matches(alert(**changes)) is expected


@pytest.mark.parametrize(("now", "active", "state"), [
    (NOW - 2 * HOUR, False, "pending"),
    (NOW - HOUR, True, "active"),  # starts_at is inclusive
    (NOW, True, "active"),
    (NOW + HOUR - timedelta(microseconds=1), True, "active"),
    (NOW + HOUR, False, "expired"),  # ends_at is exclusive
    (NOW + 2 * HOUR, False, "expired"),
])
def test_activity(now: datetime, active: bool, state: str) -> None:
    assert silence("namespace=shop").active(now) is active
    assert silence("namespace=shop").state(now) == state


def test_expired_now_ends_the_silence() -> None:
    ended = silence("namespace=shop").expired(NOW)
    assert (ended.ends_at, ended.active(NOW)) == (NOW, False)


def test_expiring_a_pending_silence_keeps_it_from_ever_starting() -> None:
    ended = silence("namespace=shop", start=NOW + HOUR, end=NOW + 2 * HOUR).expired(NOW)
    assert (ended.starts_at, ended.ends_at) == (NOW, NOW)
    assert not any(ended.active(NOW + k * HOUR / 2) for k in range(5))


def test_expiring_an_expired_silence_changes_nothing() -> None:
    old = silence("namespace=shop", start=NOW - 2 * HOUR, end=NOW - HOUR)
    assert old.expired(NOW) is old


def test_silencing_picks_the_matching_active_one_ending_last() -> None:
    snapshot = Silences([
        silence("namespace=shop", end=NOW + HOUR, id="short"),
        silence("namespace=shop", end=NOW + 3 * HOUR, id="long"),
        silence("namespace=pay", end=NOW + 9 * HOUR, id="other-namespace"),
        silence("namespace=shop", start=NOW + HOUR, end=NOW + 9 * HOUR, id="pending"),
        silence("namespace=shop", start=NOW - 3 * HOUR, end=NOW, id="expired"),
    ])
    found = snapshot.silencing(alert(), NOW)
    assert found is not None and found.id == "long"
    assert len(snapshot) == 5 and [s.id for s in snapshot][0] == "short"


def test_silencing_ties_resolve_to_the_same_silence_in_any_order() -> None:
    a, b = silence("namespace=shop", id="b-2"), silence("rule=oom-killed", id="a-1")
    assert Silences([a, b]).silencing(alert(), NOW) == Silences([b, a]).silencing(alert(), NOW) == b


@pytest.mark.parametrize("silences", [[], [silence("namespace=pay")],
                                      [silence("namespace=shop", start=NOW + HOUR, end=NOW + 2 * HOUR)]])
def test_nothing_silences(silences: list[Silence]) -> None:
    assert Silences(silences).silencing(alert(), NOW) is None


def test_to_dict_round_trips_quotes_unicode_and_regexes() -> None:
    original = silence('namespace=shop-*', 'labels.team="a \\"b\\" 扩容"', "severity=~warning|critical",
                       "key!=shop/x/app")
    data = original.to_dict()
    assert data["matchers"][0] == 'namespace="shop-*"'
    again = Silence.from_dict(data)
    assert again == original and again.matches(alert(namespace="shop-1", object_labels={"team": 'a "b" 扩容'}))


def test_from_dict_reads_z_times() -> None:
    data = {**silence("namespace=shop").to_dict(), "ends_at": "2026-12-01T04:00:00Z"}
    assert Silence.from_dict(data).ends_at == NOW + HOUR


GOOD = silence("namespace=shop").to_dict()


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"id": ""}, "id", "must not be empty"),
    ({"id": 7}, "id", "expected a string"),
    ({"created_by": None}, "created_by", "expected a string"),
    ({"comment": ["x"]}, "comment", "expected a string"),
    ({"matchers": "namespace=shop"}, "matchers", "expected a list"),
    ({"matchers": []}, "matchers", "at least one matcher"),
    ({"matchers": ["namespace=shop", "namspace=pay"]}, "matchers[1]", "did you mean `namespace`"),
    ({"matchers": [{"namespace": "shop"}]}, "matchers[0]", "expected a string"),
    ({"matchers": ["rule=~(a"]}, "matchers[0]", "cannot be used"),
    ({"starts_at": "yesterday"}, "starts_at", "ISO 8601"),
    ({"ends_at": "2026-12-01T04:00:00"}, "ends_at", "with a zone"),
    ({"created_at": None}, "created_at", "ISO 8601"),
    ({"ends_at": "2026-12-01T01:00:00+00:00"}, "ends_at", "before starts_at"),
])
def test_from_dict_refuses(changes: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(ValueError, match=rf"silence field `{field}`: .*{message}".replace("[", r"\[")):
        Silence.from_dict({**GOOD, **changes})


def test_from_dict_refuses_a_missing_field_and_a_non_mapping() -> None:
    with pytest.raises(ValueError, match="silence field `ends_at`"):
        Silence.from_dict({k: v for k, v in GOOD.items() if k != "ends_at"})
    with pytest.raises(ValueError, match="expected a mapping"):
        Silence.from_dict(["namespace=shop"])  # type: ignore[arg-type]


def test_create_gives_a_fresh_uuid4_and_refuses_a_silence_already_over() -> None:
    made = [Silence.create(["namespace=shop"], starts_at=NOW, ends_at=NOW + HOUR, created_by="li",
                           comment="", now=NOW) for _ in range(2)]
    assert made[0].id != made[1].id and len(made[0].id) == 36 and made[0].id[14] == "4"
    assert made[0].created_at == NOW
    with pytest.raises(ValueError, match="`ends_at`: .*already past"):
        Silence.create(["namespace=shop"], starts_at=NOW - 2 * HOUR, ends_at=NOW - HOUR, created_by="li",
                       comment="", now=NOW)
    with pytest.raises(ValueError, match="`ends_at`: must be after starts_at"):
        Silence.create(["namespace=shop"], starts_at=NOW + HOUR, ends_at=NOW + HOUR, created_by="li",
                       comment="", now=NOW)
    with pytest.raises(ValueError, match=r"`matchers\[0\]`"):
        Silence.create(["nope"], starts_at=NOW, ends_at=NOW + HOUR, created_by="li", comment="", now=NOW)
