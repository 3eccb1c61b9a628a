"""Fixtures for the environment tests: the anyio backend and one real sandbox per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def sandbox() -> Iterator[object]:
    """The real sandbox (zygotes started once for the session)."""
    from stepstones.sandbox import Sandbox

    sb = Sandbox(workers=2)
    with sb:
        yield sb
