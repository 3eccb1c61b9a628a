"""Fixtures of the report tests: anyio on asyncio, one real sandbox, one drawn report of
hand-built chains, and the pipeline tests' scripted teacher/student
(tests/pipeline/_pipeline_play.py, a protocol fixture) importable."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from stepstones.sandbox import Sandbox

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pipeline"))

from _report_runs import varied_chains, write_run

from stepstones.report import write_report


@pytest.fixture(scope="session")
def varied(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A run of varied chains and the page of its report (drawn once: figures take seconds)."""
    run = write_run(tmp_path_factory.mktemp("varied") / "run", varied_chains())
    return run, write_report(run)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(workers=1) as sb:
        yield sb
