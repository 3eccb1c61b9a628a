"""Constructs a reference solution may not use: randomness, time, I/O, threads, processes, network.

The check reads the AST (imports, names called, attributes reached) and never runs the code. It is
a *validity* rule for teacher code — the sandbox, not this list, is what keeps code contained — so
it errs on the side of naming a clear reason the teacher can fix ("uses banned module 'random'").
"""

from __future__ import annotations

import ast

import msgspec

__all__ = ["BannedConstructs"]

_MODULES = frozenset(
    {
        "asyncio",
        "concurrent",
        "ctypes",
        "datetime",
        "glob",
        "http",
        "importlib",
        "io",
        "multiprocessing",
        "os",
        "pathlib",
        "pickle",
        "random",
        "secrets",
        "select",
        "selectors",
        "shutil",
        "signal",
        "socket",
        "ssl",
        "subprocess",
        "sys",
        "tempfile",
        "threading",
        "time",
        "urllib",
        "uuid",
    }
)
_CALLS = frozenset(
    {
        "__import__",
        "breakpoint",
        "compile",
        "eval",
        "exec",
        "exit",
        "globals",
        "input",
        "locals",
        "open",
        "print",
        "quit",
        "vars",
    }
)
_ATTRIBUTES = frozenset({"__builtins__", "__globals__", "__code__", "__subclasses__", "__loader__"})


class BannedConstructs(msgspec.Struct, frozen=True, kw_only=True):
    """Which imports, calls and attributes make a reference solution invalid.

    modules: top-level module names whose import (``import x``, ``from x.y import z``) is banned.
    calls: names whose call is banned (``open(...)``, ``print(...)``) — I/O and dynamic code.
    attributes: attribute names whose use is banned (introspection that reaches outside ``f``).
    """

    modules: frozenset[str] = _MODULES
    calls: frozenset[str] = _CALLS
    attributes: frozenset[str] = _ATTRIBUTES

    def check(self, tree: ast.AST) -> str | None:
        """The first banned construct in ``tree`` as a sentence for the teacher, or None."""
        for node in ast.walk(tree):
            reason = self._node(node)
            if reason is not None:
                return reason
        return None

    def _node(self, node: ast.AST) -> str | None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if top in self.modules:
                    return f"uses banned module {top!r} (line {node.lineno}): {_WHY}"
        elif isinstance(node, ast.ImportFrom):
            top = (node.module or "").split(".")[0]
            if node.level == 0 and top in self.modules:
                return f"uses banned module {top!r} (line {node.lineno}): {_WHY}"
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else None
            if name in self.calls:
                return f"calls banned function {name!r} (line {node.lineno}): {_WHY}"
        elif isinstance(node, ast.Attribute) and node.attr in self.attributes:
            return f"uses banned attribute {node.attr!r} (line {node.lineno}): {_WHY}"
        elif isinstance(node, ast.Name) and node.id in self.attributes:
            return f"uses banned name {node.id!r} (line {node.lineno}): {_WHY}"
        return None


_WHY = (
    "the code must be a pure, deterministic function (no randomness, time, I/O, printing, "
    "threads, processes, network or dynamic code)"
)
