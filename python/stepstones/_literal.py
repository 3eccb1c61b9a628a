"""Plain Python literals: a safe parser and a canonical writer.

Values that cross a trust boundary (teacher inputs, gold outputs, student answers) travel as
*canonical literal strings*. This module is self-contained (stdlib only) because the sandbox
harness loads it inside the zygote too: the child parses argument lists with :func:`parse_args`
and writes return values with :func:`dump`; the parent parses answers with :func:`parse`.

Literals are: ``None``, ``bool``, ``int``, ``float`` (including ``float('nan')``,
``float('inf')``, ``-float('inf')``), ``complex``, ``str``, ``bytes``, and ``tuple``, ``list``,
``dict``, ``set``, ``frozenset`` of literals. Nothing is ever evaluated: the parser walks the AST
and builds values itself, so ``__import__('os')`` or ``(1).__class__`` are rejected as data.

Canonical form (:func:`dump`) is ``repr`` except that set elements are sorted by their canonical
text (so the text does not depend on the hash seed), non-finite floats are written as calls the
parser accepts, and container subclasses (``defaultdict``, ``OrderedDict``, namedtuples) are
written as their base type, matching how ``==`` sees them.
"""

from __future__ import annotations

import ast
import math
from typing import Any

__all__ = [
    "MAX_DEPTH",
    "MAX_LENGTH",
    "LiteralParseError",
    "NotLiteralError",
    "dump",
    "parse",
    "parse_args",
]

#: Longest literal text accepted by the parser, and longest canonical text dump() writes.
MAX_LENGTH = 1_000_000
#: Deepest container nesting accepted either way.
MAX_DEPTH = 100


class LiteralParseError(ValueError):
    """The text is not a plain Python literal (or argument list of literals)."""


class NotLiteralError(ValueError):
    """The value cannot be written as a plain literal."""


_NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf, "+inf": math.inf}


def _build(node: ast.AST, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise LiteralParseError(f"literal nested deeper than {MAX_DEPTH}")
    if isinstance(node, ast.Constant):
        if node.value is Ellipsis:
            raise LiteralParseError("'...' is not a literal value")
        return node.value
    if isinstance(node, ast.Tuple):
        return tuple(_build(e, depth + 1) for e in node.elts)
    if isinstance(node, ast.List):
        return [_build(e, depth + 1) for e in node.elts]
    if isinstance(node, ast.Set):
        return _hashable_set(node.elts, depth)
    if isinstance(node, ast.Dict):
        out: dict[Any, Any] = {}
        for k, v in zip(node.keys, node.values, strict=True):
            if k is None:
                raise LiteralParseError("'**' unpacking is not a literal")
            key = _build(k, depth + 1)
            try:
                out[key] = _build(v, depth + 1)
            except TypeError as exc:
                raise LiteralParseError(f"unhashable dict key: {exc}") from None
        return out
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        operand = _build(node.operand, depth + 1)
        if isinstance(operand, bool) or not isinstance(operand, int | float | complex):
            raise LiteralParseError("unary +/- applies only to numbers")
        return -operand if isinstance(node.op, ast.USub) else +operand
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub):
        # complex literals such as 1+2j or -1-0.5j
        left, right = _build(node.left, depth + 1), _build(node.right, depth + 1)
        if (
            isinstance(left, int | float)
            and not isinstance(left, bool)
            and isinstance(right, complex)
        ):
            return left + right if isinstance(node.op, ast.Add) else left - right
        raise LiteralParseError("only complex numbers may be written with + or -")
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        return _build_call(node, depth)
    raise LiteralParseError(f"{type(node).__name__} is not allowed in a literal")


def _hashable_set(elts: list[ast.expr], depth: int) -> set[Any]:
    try:
        return {_build(e, depth + 1) for e in elts}
    except TypeError as exc:
        raise LiteralParseError(f"unhashable set element: {exc}") from None


def _build_call(node: ast.Call, depth: int) -> Any:
    name = node.func.id  # type: ignore[attr-defined]
    args = node.args
    if name == "set" and not args:
        return set()
    if name == "frozenset":
        if not args:
            return frozenset()
        if len(args) == 1 and isinstance(args[0], ast.Set | ast.List | ast.Tuple):
            return frozenset(_hashable_set(args[0].elts, depth))
    if (
        name == "float"
        and len(args) == 1
        and isinstance(args[0], ast.Constant)
        and isinstance(args[0].value, str)
        and args[0].value.strip().lower() in _NONFINITE
    ):
        return _NONFINITE[args[0].value.strip().lower()]
    raise LiteralParseError(f"call of {name!r} is not a literal")


def _parse_tree(text: str) -> ast.AST:
    if len(text) > MAX_LENGTH:
        raise LiteralParseError(f"literal is {len(text)} characters, over the {MAX_LENGTH} limit")
    try:
        return ast.parse(text.strip(), mode="eval").body
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        raise LiteralParseError(f"not a Python literal: {exc}") from None


def parse(text: str) -> Any:
    """Parse one literal value from text; raise :class:`LiteralParseError` on anything else."""
    tree = _parse_tree(text)
    try:
        return _build(tree, 0)
    except (RecursionError, ValueError) as exc:
        if isinstance(exc, LiteralParseError):
            raise
        raise LiteralParseError(f"not a Python literal: {exc}") from None


def parse_args(text: str) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Parse an argument list such as ``'John', {'age': 20}`` or ``3, key=True``.

    Returns ``(args, kwargs)``. The text must be exactly the inside of one call's parentheses.
    """
    if len(text) > MAX_LENGTH:
        raise LiteralParseError(f"arguments are {len(text)} characters, over {MAX_LENGTH}")
    tree = _parse_tree(f"__args__(\n{text}\n)")
    if not (
        isinstance(tree, ast.Call)
        and isinstance(tree.func, ast.Name)
        and tree.func.id == "__args__"
    ):
        raise LiteralParseError("not a plain argument list")
    try:
        args = tuple(_build(a, 1) for a in tree.args)
        kwargs: dict[str, Any] = {}
        for kw in tree.keywords:
            if kw.arg is None:
                raise LiteralParseError("'**' unpacking is not allowed in an argument list")
            if kw.arg in kwargs:
                raise LiteralParseError(f"keyword argument {kw.arg!r} repeated")
            kwargs[kw.arg] = _build(kw.value, 1)
    except (RecursionError, ValueError) as exc:
        if isinstance(exc, LiteralParseError):
            raise
        raise LiteralParseError(f"not a Python literal: {exc}") from None
    return args, kwargs


def _float(v: float) -> str:
    if math.isnan(v):
        return "float('nan')"
    if math.isinf(v):
        return "float('inf')" if v > 0 else "-float('inf')"
    return repr(v)


def _dump(v: Any, depth: int, budget: list[int]) -> str:
    if depth > MAX_DEPTH:
        raise NotLiteralError(f"value nested deeper than {MAX_DEPTH}")
    if v is None or v is True or v is False:
        s = repr(v)
    elif isinstance(v, int):
        try:
            s = repr(int(v))
        except ValueError as exc:  # int too large for str conversion
            raise NotLiteralError(str(exc)) from None
    elif isinstance(v, float):
        s = _float(float(v))
    elif isinstance(v, complex):
        # Zero parts are written unsigned: Python reads "(-0-0j)" back as 0j (it is -0 minus
        # 0j), so a signed zero would make the text change on its next round trip.
        finite = all(map(math.isfinite, (v.real, v.imag)))
        s = repr(complex(v.real + 0.0, v.imag + 0.0)) if finite else "<nonfinite>"
        if s == "<nonfinite>":
            raise NotLiteralError("complex numbers with nan/inf parts are not literals")
    elif isinstance(v, str):
        s = repr(str(v))
    elif isinstance(v, bytes):
        s = repr(bytes(v))
    elif isinstance(v, tuple):
        items = [_dump(x, depth + 1, budget) for x in v]
        s = f"({items[0]},)" if len(items) == 1 else "(" + ", ".join(items) + ")"
    elif isinstance(v, list):
        s = "[" + ", ".join(_dump(x, depth + 1, budget) for x in v) + "]"
    elif isinstance(v, dict):
        s = (
            "{"
            + ", ".join(
                f"{_dump(k, depth + 1, budget)}: {_dump(x, depth + 1, budget)}"
                for k, x in v.items()
            )
            + "}"
        )
    elif isinstance(v, frozenset):
        inner = ", ".join(sorted(_dump(x, depth + 1, budget) for x in v))
        s = f"frozenset({{{inner}}})" if inner else "frozenset()"
    elif isinstance(v, set):
        inner = ", ".join(sorted(_dump(x, depth + 1, budget) for x in v))
        s = f"{{{inner}}}" if inner else "set()"
    else:
        raise NotLiteralError(f"{type(v).__name__} is not a plain literal type")
    budget[0] -= len(s)
    if budget[0] < 0:
        raise NotLiteralError(f"canonical text is longer than {MAX_LENGTH} characters")
    return s


def dump(value: Any) -> str:
    """Write a value as its canonical literal text; raise :class:`NotLiteralError` if it is not one.

    ``parse(dump(v)) == v`` for every literal ``v`` (NaN aside, which is never ``==`` itself).
    """
    try:
        return _dump(value, 0, [MAX_LENGTH])
    except RecursionError:
        raise NotLiteralError(f"value nested deeper than {MAX_DEPTH}") from None
