"""Shared pytest configuration: GPU tests are skipped on machines without CUDA, and the
process-wide shared sandbox that serve hooks, envs and examples start is stopped (and its
zygotes reaped) when the session ends, not left to the interpreter's exit."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from stepstones.sandbox import close_shared_sandbox


def _has_gpu() -> bool:
    return shutil.which("nvidia-smi") is not None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _has_gpu():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _stop_the_shared_sandbox() -> Iterator[None]:
    """Tests reach :func:`stepstones.sandbox.shared_sandbox` through serve hooks, envs and
    pipelines; it lives for the session (hooks keep a reference) and is closed at its end."""
    yield
    close_shared_sandbox()
