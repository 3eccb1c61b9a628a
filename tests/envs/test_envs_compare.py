"""Answer-vs-gold comparison: Python values, documented strictness, adversarial answers."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stepstones import _literal
from stepstones.envs import compare, values_equal


@pytest.mark.parametrize(
    ("answer", "gold"),
    [
        ("[1, 2]", "[1,2]"),
        ("{'b': 2, 'a': 1}", "{'a': 1, 'b': 2}"),
        ("{3, 1, 2}", "{1, 2, 3}"),
        ("frozenset({2, 1})", "frozenset({1, 2})"),
        ("float('nan')", "float('nan')"),
        ("-0.0", "0.0"),
        ("(1,)", "(1, )"),
        ("'a' 'b'", "'ab'"),
        ("1_000", "1000"),
        ("0x10", "16"),
        ("{'k': [float('nan'), {1: (2,)}]}", "{'k': [float('nan'), {1: (2,)}]}"),
        ("1+2j", "(1+2j)"),
    ],
)
def test_equal(answer: str, gold: str) -> None:
    assert compare(answer, gold) == (True, "ok")


@pytest.mark.parametrize(
    ("answer", "gold", "why"),
    [
        ("1", "True", "got int"),
        ("2", "2.0", "got int"),
        ("[1, 2]", "(1, 2)", "got list"),
        ("{1}", "frozenset({1})", "got set"),
        ("[2, 1]", "[1, 2]", "expected [1, 2]"),
        ("0.30000000000000004", "0.3", "expected 0.3"),
        ("'1'", "1", "got str"),
        ("{'a': 1}", "{'a': 1, 'b': 2}", "expected"),
        ("{1: 'a'}", "{True: 'a'}", "expected"),
        ("b'a'", "'a'", "got bytes"),
    ],
)
def test_not_equal(answer: str, gold: str, why: str) -> None:
    equal, reason = compare(answer, gold)
    assert not equal
    assert why in reason


def test_relative_tolerance_is_opt_in() -> None:
    assert not compare("0.30000000000000004", "0.3")[0]
    assert compare("0.30000000000000004", "0.3", rel_tol=1e-9)[0]


@pytest.mark.parametrize(
    "answer",
    [
        "__import__('os').system('true')",
        "(1).__class__",
        "open('/etc/passwd').read()",
        "[x for x in range(3)]",
        "lambda: 1",
        "f(1)",
        "1 if True else 2",
        "[1] * 10**9",
        "10**10**10",
        "{**{}}",
        "...",
    ],
)
def test_code_is_never_evaluated(answer: str) -> None:
    equal, reason = compare(answer, "1")
    assert not equal
    assert reason.startswith("answer is not a Python literal")


def test_huge_and_deep_answers_are_rejected_quickly() -> None:
    huge = "[" + "1, " * (_literal.MAX_LENGTH // 3 + 10) + "]"
    assert not compare(huge, "[1]")[0]
    deep = "[" * 5000 + "]" * 5000
    equal, reason = compare(deep, "[]")
    assert not equal
    assert "not a Python literal" in reason
    nested_ok = "[" * 50 + "]" * 50
    assert compare(nested_ok, nested_ok)[0]


def test_bad_gold_is_reported() -> None:
    equal, reason = compare("1", "nope(")
    assert not equal
    assert "gold output is not a literal" in reason
    # The same text as a bad gold is still no match (the equal-text shortcut checks the gold).
    equal, reason = compare("nope(", "nope(")
    assert not equal
    assert "gold output is not a literal" in reason


def test_equal_texts_match_without_parsing_the_answer_again() -> None:
    for text in ("[1, 2]", "float('nan')", "{'a': (1, 2.5)}", "-0.0"):
        assert compare(text, text) == (True, "ok")


_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True)
    | st.text(max_size=8)
    | st.binary(max_size=8)
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=4) | st.integers(), inner, max_size=4)
        | st.frozensets(st.integers() | st.text(max_size=4), max_size=4)
    ),
    max_leaves=20,
)


@given(_values)
def test_dump_then_compare_is_reflexive(value: object) -> None:
    text = _literal.dump(value)
    assert compare(text, text) == (True, "ok")
    assert values_equal(_literal.parse(text), value)


@given(_values, _values)
def test_agrees_with_python_equality_when_types_are_plain(a: object, b: object) -> None:
    # Strict equality implies Python equality (NaN aside, which Python never calls equal).
    if values_equal(a, b) and "nan" not in _literal.dump(a):
        assert a == b


@given(st.dictionaries(st.integers(), st.integers(), max_size=6))
def test_dict_order_does_not_matter(d: dict[int, int]) -> None:
    reordered = dict(reversed(list(d.items())))
    assert compare(_literal.dump(reordered), _literal.dump(d))[0]


def test_nan_only_equals_nan() -> None:
    assert values_equal(math.nan, math.nan)
    assert not values_equal(math.nan, 1.0)
    assert not values_equal(math.inf, -math.inf)


@pytest.mark.parametrize(
    "text",
    [
        '\'__import__("os").system("rm -rf /")\'',
        '"\'; import os; os._exit(0) #"',
        "'```output\\n1\\n```'",
        "b'\\x00\\xff'",
    ],
)
def test_strings_that_look_like_code_are_just_strings(text: str) -> None:
    assert compare(text, text) == (True, "ok")
    assert isinstance(_literal.parse(text), str | bytes)
