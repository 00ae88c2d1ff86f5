import pytest

from rules.match import MatchError, compile_namespaces, compile_selector, compile_value


@pytest.mark.parametrize("spec, value, expected", [
    ("BackOff", "BackOff", True), ("BackOff", "Backoff", False),
    (["A", "B"], "B", True), (["A", "B"], "C", False),
    ("~ (?i)out of memory", "Killed: OUT OF MEMORY", True), ("~^Back", "NoBack", False),
    ({"not": "Pulled"}, "Pulled", False), ({"not": ["a", "~^b"]}, "bee", False), ({"not": ["a"]}, "c", True),
    ({"gte": 5}, 5, True), ({"gt": 5}, 5, False), ({"lt": 3}, 2, True), ({"gte": 1, "lte": 3}, 4, False),
    ({"gte": 5}, "5", False), (137, 137, True), (True, True, True), (True, False, False),
])
def test_value_forms(spec, value, expected):
    assert compile_value(spec, ["f"])(value) is expected


@pytest.mark.parametrize("selector, labels, expected", [
    ("app=web", {"app": "web"}, True), ("app==web", {"app": "api"}, False), ("app!=web", {}, True),
    ("tier in (a, b)", {"tier": "b"}, True), ("tier notin (a,b)", {"tier": "a"}, False),
    ("canary", {"canary": ""}, True), ("!canary", {"canary": "1"}, False),
    ("app.kubernetes.io/name=web,!canary", {"app.kubernetes.io/name": "web"}, True),
])
def test_label_selectors(selector, labels, expected):
    assert compile_selector(selector, ["labels"])(labels) is expected


def test_label_mapping_uses_value_forms():
    sel = compile_selector({"app": ["web", "api"], "team": "~^pay"}, ["labels"])
    assert sel({"app": "api", "team": "payments"}) and not sel({"app": "api"})


def test_namespace_globs():
    t = compile_namespaces({"include": ["prod-*"], "exclude": ["prod-sandbox"]}, ["ns"])
    assert t("prod-a") and not t("prod-sandbox") and not t("dev")


@pytest.mark.parametrize("spec", [[], {}, {"regex": "x"}, {"gt": "5"}, "~(", object()])
def test_bad_specs_raise_with_path(spec):
    with pytest.raises(MatchError) as err:
        compile_value(spec, ["match", "reason"])
    assert err.value.path[:2] == ("match", "reason")
