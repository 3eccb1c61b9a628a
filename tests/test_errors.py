"""The one exception tree: drawn in the docstring of ``stepstones.errors`` and built to match,
and every ``raise`` in the package raises a member of it or a stdlib type on the reviewed list
below. The raise sites are found by reading the source (``ast``), not by importing it."""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

import pytest

from stepstones import errors
from stepstones.envs import _prompts
from stepstones.errors import ConfigError, GradingError, SeedError, StepstonesError
from stepstones.pipeline import Config, build_summary
from stepstones.pipeline._generate import as_seed
from stepstones.records import Attempt

PACKAGE = Path(errors.__file__).parent

# What may be raised besides the tree, and why. Keys: (path under python/stepstones or "*",
# name as written at the raise). Everything else must be a StepstonesError subclass imported
# from stepstones.errors. NotImplementedError is never allowed: abstract methods use abc.
ALLOWED: dict[tuple[str, str], str] = {
    ("*", "TypeError"): "an argument of the wrong type: a programmer error, the stdlib way",
    ("*", "argparse.ArgumentTypeError"): "argparse's protocol: it becomes a usage error",
    ("cli.py", "SystemExit"): "the console script's exit status",
    ("__init__.py", "AttributeError"): "a module __getattr__ must raise it for unknown names",
    ("llm/_transport.py", "httpx.*"): "an httpx transport speaks httpx's errors; llm.Client "
    "translates them into LLMError at its one choke point",
    ("_literal.py", "LiteralParseError"): "private to the literal codec: envs catch it and make "
    "a Rejection or a Grade of it (what a model writes is data)",
    ("_literal.py", "NotLiteralError"): "as above",
    ("serve/_app.py", "_HTTPError"): "private: the app answers it as an HTTP error response",
    ("testing/_server.py", "_BadRequestError"): "private: the scripted server answers 400",
    ("sandbox/_zygote.py", "ImportError"): "raised inside the zygote process as it starts; "
    "the parent sees a sandbox that failed to start (SandboxError)",
}
# Stdlib names a module may raise when the same try statement catches them (local control flow,
# e.g. joining a malformed token with float()'s ValueError before raising ConfigError).
LOCAL_CONTROL_FLOW = {"ValueError"}
# Exception classes defined outside errors.py: only private ones (a leading underscore), and
# the literal codec's two, which never leave the package (see ALLOWED).
DEFINED_ELSEWHERE = {("_literal.py", "LiteralParseError"), ("_literal.py", "NotLiteralError")}


@functools.cache
def _sources() -> list[tuple[str, ast.Module]]:
    """Every module of the package, parsed once for all the tests here."""
    return [
        (path.relative_to(PACKAGE).as_posix(), ast.parse(path.read_text(), str(path)))
        for path in sorted(PACKAGE.rglob("*.py"))
    ]


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


def _raised(node: ast.Raise) -> str | None:
    """The class name a raise names (``raise X(...)``/``raise X``), or None for a re-raise of
    a value (``raise``, ``raise exc``, ``raise outcome.error``, ``raise failures[0]``)."""
    if node.exc is None:
        return None
    target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
    name = _dotted(target)
    if name is None or not name.rsplit(".", 1)[-1].lstrip("_")[:1].isupper():
        return None
    return name


def _caught_locally(name: str, raise_node: ast.Raise, parents: dict[ast.AST, ast.AST]) -> bool:
    node: ast.AST = raise_node
    while node in parents:
        parent = parents[node]
        if isinstance(parent, ast.Try) and node in parent.body:
            for handler in parent.handlers:
                types = handler.type
                names = [types] if not isinstance(types, ast.Tuple) else types.elts
                if any(_dotted(t) == name for t in names if t is not None):
                    return True
        if isinstance(parent, ast.FunctionDef | ast.AsyncFunctionDef):
            return False
        node = parent
    return False


def _from_errors(module: ast.Module) -> set[str]:
    return {
        alias.asname or alias.name
        for node in ast.walk(module)
        if isinstance(node, ast.ImportFrom) and node.module == "stepstones.errors"
        for alias in node.names
    }


def _allowed(rel: str, name: str) -> bool:
    module = name.rsplit(".", 1)[0] + ".*" if "." in name else None
    return any((where, what) in ALLOWED for where in (rel, "*") for what in (name, module))


def test_every_raise_is_in_the_tree_or_reviewed() -> None:
    tree = set(errors.__all__)
    bad = []
    for rel, module in _sources():
        parents = {
            child: parent for parent in ast.walk(module) for child in ast.iter_child_nodes(parent)
        }
        imported = _from_errors(module) | (tree if rel == "errors.py" else set())
        for node in ast.walk(module):
            if not isinstance(node, ast.Raise) or (name := _raised(node)) is None:
                continue
            where = f"{rel}:{node.lineno}: raise {name}"
            if name == "NotImplementedError":
                bad.append(f"{where} (use abc.abstractmethod)")
                continue
            ok = (
                (name in tree and name in imported)
                or (name.startswith("errors.") and name.removeprefix("errors.") in tree)
                or _allowed(rel, name)
                or (name in LOCAL_CONTROL_FLOW and _caught_locally(name, node, parents))
            )
            if not ok:
                bad.append(where)
    assert not bad, "raise a stepstones.errors class (or review the allowlist):\n" + "\n".join(bad)


def test_allowlist_entries_are_still_used() -> None:
    """An entry whose raise site is gone is dropped, so the list stays a reviewed one."""
    seen = set()
    for rel, module in _sources():
        for node in ast.walk(module):
            if isinstance(node, ast.Raise) and (name := _raised(node)) is not None:
                seen |= {(rel, name), ("*", name)}
                if "." in name:
                    seen.add((rel, name.rsplit(".", 1)[0] + ".*"))
    assert set(ALLOWED) <= seen, sorted(set(ALLOWED) - seen)


def test_exception_classes_live_in_errors_py() -> None:
    elsewhere = set()
    for rel, module in _sources():
        if rel == "errors.py":
            continue
        for node in ast.walk(module):
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                bases = {(_dotted(b) or "").rsplit(".", 1)[-1] for b in node.bases}
                if any(b.endswith(("Error", "Exception")) for b in bases):
                    elsewhere.add((rel, node.name))
    assert elsewhere <= DEFINED_ELSEWHERE, sorted(elsewhere - DEFINED_ELSEWHERE)


_TREE_LINE = re.compile(r"^(?P<indent>[ │]*)(?:[├└]── )?(?P<name>\w+)(?:\((?P<bases>[\w, ]+)\))?")


def _drawn_tree() -> dict[str, tuple[str, ...]]:
    """``{class: (parent, stdlib bases...)}`` as the errors docstring draws it."""
    doc = errors.__doc__ or ""
    block = doc.split("::\n", 1)[1].strip("\n").split("\n\n", 1)[0]
    drawn: dict[str, tuple[str, ...]] = {}
    stack: list[str] = []
    for line in block.splitlines():
        match = _TREE_LINE.match(line.removeprefix("    "))
        assert match, f"not a tree line: {line!r}"
        depth = len(match["indent"]) // 4 + (1 if "──" in line else 0)
        del stack[depth:]
        parent = stack[-1] if stack else "Exception"
        extra = tuple(b.strip() for b in (match["bases"] or "").split(",") if b.strip())
        drawn[match["name"]] = (parent, *extra)
        stack.append(match["name"])
    return drawn


def test_the_tree_is_the_one_drawn_in_the_docstring() -> None:
    drawn = _drawn_tree()
    assert drawn["StepstonesError"] == ("Exception",)
    assert sorted(drawn) == errors.__all__  # every class drawn, every drawn class exported
    built = {
        name: tuple(base.__name__ for base in getattr(errors, name).__bases__)
        for name in errors.__all__
    }
    assert built == drawn


def test_every_class_is_a_stepstones_error_and_catchable_as_its_stdlib_type() -> None:
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, StepstonesError), name
    assert issubclass(errors.LLMTimeoutError, TimeoutError)
    assert issubclass(errors.LabelError, ValueError)
    assert issubclass(errors.SandboxClosedError, RuntimeError)


# --- the user-facing sites issue 13 named ---------------------------------------------------------
def test_a_seed_must_be_code() -> None:
    with pytest.raises(SeedError, match="seed is empty"):
        as_seed("  \n")
    with pytest.raises(TypeError, match="seed must be a Seed or a string of code, got int"):
        as_seed(3)  # type: ignore[arg-type]


def test_a_summary_needs_one_grade_per_attempt() -> None:
    attempt = Attempt(problem_id="p", index=0, completion="x", answer="x")
    with pytest.raises(GradingError, match="1 attempts but 0 grades"):
        build_summary([attempt], [], Config())


def test_a_progression_target_must_be_a_band() -> None:
    with pytest.raises(ConfigError, match=r"target must be a band 0 <= low <= high <= 1"):
        _prompts.progression("harder", (0.7, 0.3))
