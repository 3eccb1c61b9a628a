"""Fixtures of the online-mode tests: the real sandbox and two validated induction problems,
one the scripted policy always solves and one it never does (see _online_play.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import anyio
import pytest

if TYPE_CHECKING:
    from stepstones.records import Problem
    from stepstones.sandbox import Sandbox


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """The real sandbox, started once for the session."""
    from stepstones.sandbox import Sandbox

    with Sandbox(workers=1) as sb:
        yield sb


@pytest.fixture(scope="session")
def base(sandbox: Sandbox) -> dict[str, Problem]:
    """{"easy": ..., "hard": ...}: validated by the induction environment in the sandbox."""
    from _online_play import validated

    return anyio.run(validated, sandbox, "easy", "hard")
