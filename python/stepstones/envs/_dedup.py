"""Problem identity: a normalized form of code plus inputs, and a run-wide deduplicator.

Two drafts are the same problem when their code has the same AST once docstrings are stripped
(names, literals and structure kept; comments and formatting ignored) and their inputs are the
same values in canonical literal form. The problem id is the content hash of the environment and
that normalized form, so ids double as dedup keys.
"""

from __future__ import annotations

import ast
import threading
from collections.abc import Iterable, Sequence

from stepstones import _literal
from stepstones.records import Env, Problem, content_hash

__all__ = ["Deduplicator", "normalize_code", "normalize_inputs", "problem_id"]

_Doc = ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


def _strip_docstrings(tree: ast.AST) -> None:
    for node in ast.walk(tree):
        if not isinstance(node, _Doc):
            continue
        body = node.body
        if (
            body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]


def normalize_code(code: str) -> str:
    """``ast.dump`` of ``code`` without docstrings (the stripped text if it does not parse)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return code.strip()
    _strip_docstrings(tree)
    return ast.dump(tree)


def normalize_inputs(inputs: Sequence[str]) -> tuple[str, ...]:
    """Each argument list in canonical form (positional values, then sorted keyword values)."""
    out: list[str] = []
    for text in inputs:
        try:
            args, kwargs = _literal.parse_args(text)
            out.append(_literal.dump(args) + _literal.dump(dict(sorted(kwargs.items()))))
        except (_literal.LiteralParseError, _literal.NotLiteralError):
            out.append(text.strip())
    return tuple(out)


def problem_id(env: Env, code: str, inputs: Sequence[str], witness: str | None = None) -> str:
    """The content hash identifying a problem: environment + normalized code, inputs, witness."""
    parts = [env, normalize_code(code), *normalize_inputs(inputs)]
    if witness is not None:
        parts += ["witness", *normalize_inputs([witness])]
    return content_hash(*parts)


class Deduplicator:
    """Remembers problem ids across a run; :meth:`add` says whether a problem is new.

    Safe to share between tasks and threads. Seed it with the ids of a resumed run's problems.
    """

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self._ids: set[str] = set(ids)
        self._lock = threading.Lock()

    def add(self, problem: Problem | str) -> bool:
        """Record ``problem`` (or its id); True if it was not seen before."""
        key = problem if isinstance(problem, str) else problem.id
        with self._lock:
            if key in self._ids:
                return False
            self._ids.add(key)
            return True

    def __contains__(self, problem: object) -> bool:
        key = problem.id if isinstance(problem, Problem) else problem
        return key in self._ids

    def __len__(self) -> int:
        return len(self._ids)
