"""Property tests for the shared literal codec (stepstones._literal)."""

from __future__ import annotations

import contextlib
import keyword
import math
from collections import OrderedDict, defaultdict, namedtuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stepstones import _literal

_hashable = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=6)
    | st.binary(max_size=6),
    lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=3),
    max_leaves=8,
)
_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.complex_numbers(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10)
    | st.binary(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner)
        | st.tuples(inner, inner, inner)
        | st.dictionaries(_hashable, inner, max_size=4)
        | st.sets(_hashable, max_size=4)
        | st.frozensets(_hashable, max_size=4)
    ),
    max_leaves=25,
)


def _same(a: object, b: object) -> bool:
    """Equality that also distinguishes types and -0.0 (what a round trip must preserve)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return math.copysign(1, a) == math.copysign(1, b) and a == b  # type: ignore[arg-type]
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(map(_same, a, b))  # type: ignore[arg-type]
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)  # type: ignore[index]
    return a == b


def test_complex_zero_parts_are_written_unsigned_so_the_text_is_stable() -> None:
    for value in (-0j, complex(-0.0, 1.0), complex(1.0, -0.0), complex(0.0, -2.0)):
        text = _literal.dump(value)
        assert _literal.parse(text) == value
        assert _literal.dump(_literal.parse(text)) == text
    assert _literal.dump(-0j) == "0j"


@given(_values)
def test_round_trip(value: object) -> None:
    text = _literal.dump(value)
    assert _same(_literal.parse(text), value)
    # dump∘parse is idempotent (a complex is written with unsigned zero parts, since Python
    # reads "(-0-0j)" back as 0j).
    again = _literal.dump(_literal.parse(text))
    assert _literal.dump(_literal.parse(again)) == again
    if not isinstance(value, complex):
        assert again == text or "j" in text


@given(
    st.lists(_values, max_size=4),
    st.dictionaries(
        st.from_regex(r"[a-z_][a-z0-9_]{0,5}", fullmatch=True).filter(
            lambda k: not keyword.iskeyword(k)
        ),
        _values,
        max_size=3,
    ),
)
def test_parse_args_round_trip(args: list[object], kwargs: dict[str, object]) -> None:
    parts = [_literal.dump(a) for a in args] + [
        f"{k}={_literal.dump(v)}" for k, v in kwargs.items()
    ]
    got_args, got_kwargs = _literal.parse_args(", ".join(parts))
    assert _same(list(got_args), args)
    assert got_kwargs.keys() == kwargs.keys()
    assert all(_same(got_kwargs[k], kwargs[k]) for k in kwargs)


@given(st.sets(st.text(max_size=5), max_size=6))
def test_set_text_does_not_depend_on_iteration_order(items: set[str]) -> None:
    forward = set(sorted(items))
    backward = set(sorted(items, reverse=True))
    assert _literal.dump(forward) == _literal.dump(backward)


def test_nonfinite_floats() -> None:
    for v in (math.inf, -math.inf):
        assert _literal.parse(_literal.dump(v)) == v
    assert math.isnan(_literal.parse(_literal.dump(math.nan)))


def test_container_subclasses_dump_as_their_base() -> None:
    point = namedtuple("point", "x y")
    assert _literal.dump(point(1, 2)) == "(1, 2)"
    assert _literal.dump(OrderedDict(a=1)) == "{'a': 1}"
    assert _literal.dump(defaultdict(list, {1: []})) == "{1: []}"


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os')",
        "(1).__class__",
        "[x for x in y]",
        "a",
        "1 + 1",
        "2 ** 10",
        "{**a}",
        "...",
        "set([1])",
        "float('1.5')",
        "-'a'",
        "-True",
        "{[1]: 2}",
        "{[1]}",
        "lambda: 0",
        "f'{1}'",
    ],
)
def test_rejects_non_literals(text: str) -> None:
    with pytest.raises(_literal.LiteralParseError):
        _literal.parse(text)


@pytest.mark.parametrize("text", ["1, *a", "**k", "x=1, x=2", ") + (", "1) ; (2"])
def test_rejects_bad_argument_lists(text: str) -> None:
    with pytest.raises(_literal.LiteralParseError):
        _literal.parse_args(text)


def test_limits() -> None:
    with pytest.raises(_literal.LiteralParseError, match="limit"):
        _literal.parse("1" * (_literal.MAX_LENGTH + 1))
    with pytest.raises(_literal.LiteralParseError):
        _literal.parse("[" * (_literal.MAX_DEPTH + 5) + "]" * (_literal.MAX_DEPTH + 5))
    with pytest.raises(_literal.NotLiteralError):
        _literal.dump("x" * _literal.MAX_LENGTH)
    deep: list[object] = []
    for _ in range(_literal.MAX_DEPTH + 5):
        deep = [deep]
    with pytest.raises(_literal.NotLiteralError):
        _literal.dump(deep)
    with pytest.raises(_literal.NotLiteralError):
        _literal.dump(object())
    with pytest.raises(_literal.NotLiteralError):
        _literal.dump(complex(math.nan, 0))


@given(st.text(max_size=200))
def test_parse_never_raises_anything_else(text: str) -> None:
    with contextlib.suppress(_literal.LiteralParseError):
        _literal.parse(text)
    with contextlib.suppress(_literal.LiteralParseError):
        _literal.parse_args(text)
