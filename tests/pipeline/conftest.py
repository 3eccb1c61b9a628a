"""Fixtures of the pipeline tests: anyio on asyncio, one real sandbox."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stepstones.sandbox import Sandbox


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """One real sandbox for the pipeline tests (zygotes are started once)."""
    with Sandbox(workers=1) as sb:
        yield sb
