"""Fixtures of the report tests: anyio on asyncio, one real sandbox, and the pipeline tests'
scripted teacher/student (tests/pipeline/_pipeline_play.py, a protocol fixture) importable."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from stepstones.sandbox import Sandbox

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pipeline"))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(workers=1) as sb:
        yield sb
