"""Static checks: banned constructs and problem identity (no sandbox needed)."""

from __future__ import annotations

import ast

import pytest

from stepstones.envs import BannedConstructs, Deduplicator, normalize_code, problem_id
from stepstones.records import Problem


@pytest.mark.parametrize(
    ("code", "word"),
    [
        ("import random\ndef f(): return random.random()", "'random'"),
        ("from time import time\ndef f(): return time()", "'time'"),
        ("import os.path\ndef f(): return 1", "'os'"),
        ("def f():\n    import subprocess\n    return 1", "'subprocess'"),
        ("import threading as t\ndef f(): return 1", "'threading'"),
        ("from socket import socket\ndef f(): return 1", "'socket'"),
        ("def f(): return open('x').read()", "'open'"),
        ("def f(x): print(x)", "'print'"),
        ("def f(x): return eval(x)", "'eval'"),
        ("def f(x): return __import__('os')", "'__import__'"),
        ("def f(): return f.__globals__", "'__globals__'"),
        ("def f(): return ().__class__.__base__.__subclasses__()", "'__subclasses__'"),
        ("def f(): return __builtins__", "'__builtins__'"),
    ],
)
def test_banned(code: str, word: str) -> None:
    reason = BannedConstructs().check(ast.parse(code))
    assert reason is not None
    assert word in reason
    assert "line" in reason


@pytest.mark.parametrize(
    "code",
    [
        "import math, itertools\nfrom collections import Counter\ndef f(x): return math.gcd(*x)",
        "def f(s):\n    printed = s.replace('a', 'b')\n    return printed",
        "from .local import thing\ndef f(): return 1",
    ],
)
def test_allowed(code: str) -> None:
    assert BannedConstructs().check(ast.parse(code)) is None


def test_banned_list_is_configurable() -> None:
    lenient = BannedConstructs(modules=frozenset(), calls=frozenset({"print"}))
    assert lenient.check(ast.parse("import random")) is None
    strict = BannedConstructs(modules=frozenset({"math"}))
    assert strict.check(ast.parse("import math")) is not None


def test_normalized_code_ignores_docstrings_comments_and_layout() -> None:
    a = 'def f(x):\n    """Doubles."""\n    # a comment\n    return x * 2\n'
    b = "def f(x):   return x*2  # other comment\n"
    c = "def f(y):\n    return y * 2\n"
    assert normalize_code(a) == normalize_code(b)
    assert normalize_code(a) != normalize_code(c)  # names are kept
    assert normalize_code("def f(:") == "def f(:"


def test_problem_id_uses_canonical_inputs() -> None:
    code = "def f(x, y=0):\n    return x\n"
    a = problem_id("deduction", code, ["[1,2], y=3", "{'b': 1, 'a': 2}"])
    b = problem_id("deduction", code, ["[1, 2], y = 3", "{'b':1,'a':2}"])
    assert a == b
    assert a != problem_id("abduction", code, ["[1,2], y=3", "{'b': 1, 'a': 2}"])
    assert a != problem_id("deduction", code, ["[1,2], y=4", "{'b': 1, 'a': 2}"])
    assert len(a) == 16


def test_deduplicator() -> None:
    p = Problem(id="abc", env="deduction", code="", inputs=(), outputs=())
    dedup = Deduplicator(["old"])
    assert "old" in dedup
    assert dedup.add(p)
    assert not dedup.add(p)
    assert not dedup.add("abc")
    assert p in dedup
    assert len(dedup) == 2
