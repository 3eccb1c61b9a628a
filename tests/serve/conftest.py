"""Fixtures of the serve tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import anyio
import pytest

from stepstones.records import Env, Problem

if TYPE_CHECKING:
    from stepstones.sandbox import Sandbox


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """The real sandbox, started once for the session."""
    from stepstones.sandbox import Sandbox

    with Sandbox(workers=2) as sb:
        yield sb


@pytest.fixture(scope="session")
def problems(sandbox: Sandbox) -> dict[Env, Problem]:
    """One validated problem per environment (see _serve_problems.py)."""
    from _serve_problems import validated

    return anyio.run(validated, sandbox)
