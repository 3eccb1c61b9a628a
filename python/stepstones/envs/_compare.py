"""Comparing an answer with a gold output, as Python values, never by evaluating anything.

Both sides are canonical literal texts (:mod:`stepstones._literal`), parsed in the parent with the
safe literal parser. Two values are equal under these rules (documented in the README too):

- **Types must match at every level**, stricter than ``==``: ``True`` is not ``1``, ``2`` is not
  ``2.0``, ``(1, 2)`` is not ``[1, 2]`` (``==`` agrees on the last), ``{1}`` is not
  ``frozenset({1})``. A program that returns ``2.0`` where ``2`` was asked did something else.
- **Order does not matter for dicts and sets** (it does for lists, tuples, strings).
- **Floats** are equal when ``==`` says so (so ``0.0`` equals ``-0.0``), or when both are NaN —
  a gold NaN must be reachable. ``rel_tol`` > 0 allows a relative tolerance (default exact).
  Inside dict keys and set elements, values compare by canonical text (hashing decides there).
- **Size:** texts longer than :data:`stepstones._literal.MAX_LENGTH` or nested deeper than
  :data:`stepstones._literal.MAX_DEPTH` are not literals and never equal anything.
"""

from __future__ import annotations

import functools
import math
from typing import Any

from stepstones import _literal

__all__ = ["compare", "values_equal"]


def _float_equal(a: float, b: float, rel_tol: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if rel_tol > 0:
        return math.isclose(a, b, rel_tol=rel_tol)
    return a == b


def _canon_keys(d: dict[Any, Any]) -> dict[str, Any]:
    return {_literal.dump(k): v for k, v in d.items()}


def values_equal(a: Any, b: Any, *, rel_tol: float = 0.0, _depth: int = 0) -> bool:
    """Equality of two parsed literals under the rules in this module's docstring."""
    if type(a) is not type(b) or _depth > _literal.MAX_DEPTH + 1:
        return False
    if isinstance(a, float):
        return _float_equal(a, b, rel_tol)
    if isinstance(a, complex):
        return _float_equal(a.real, b.real, rel_tol) and _float_equal(a.imag, b.imag, rel_tol)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(
            values_equal(x, y, rel_tol=rel_tol, _depth=_depth + 1)
            for x, y in zip(a, b, strict=True)
        )
    if isinstance(a, dict):
        if len(a) != len(b):
            return False
        ka, kb = _canon_keys(a), _canon_keys(b)
        return ka.keys() == kb.keys() and all(
            values_equal(ka[k], kb[k], rel_tol=rel_tol, _depth=_depth + 1) for k in ka
        )
    if isinstance(a, set | frozenset):
        return len(a) == len(b) and sorted(map(_literal.dump, a)) == sorted(map(_literal.dump, b))
    return bool(a == b)


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@functools.lru_cache(maxsize=1024)
def _is_literal(text: str) -> bool:
    """Whether ``text`` parses as a literal (cached: a problem's gold outputs come back for
    every answer graded against it)."""
    try:
        _literal.parse(text)
    except _literal.LiteralParseError:
        return False
    return True


def compare(answer: str, gold: str, *, rel_tol: float = 0.0) -> tuple[bool, str]:
    """Compare an answer literal with a gold literal; return ``(equal, reason)``.

    ``reason`` is ``"ok"`` when equal, otherwise a short sentence naming both values (or the
    parse failure), suitable for a :class:`~stepstones.records.Grade` and a teacher summary.
    """
    if answer == gold and _is_literal(gold):
        return True, "ok"  # one text is one value (NaN included: it equals NaN here)
    try:
        want = _literal.parse(gold)
    except _literal.LiteralParseError as exc:
        return False, f"gold output is not a literal ({exc})"
    try:
        got = _literal.parse(answer)
    except _literal.LiteralParseError as exc:
        return False, f"answer is not a Python literal: {_short(str(exc))}"
    if values_equal(got, want, rel_tol=rel_tol):
        return True, "ok"
    if type(got) is not type(want):
        return False, (
            f"got {type(got).__name__} {_short(answer, 40)}, expected {type(want).__name__}"
            f" {_short(gold, 40)}"
        )
    return False, f"got {_short(answer, 60)}, expected {_short(gold, 60)}"
