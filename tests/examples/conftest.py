"""Fixtures of the example tests: each example runs as its own process (as a user runs it),
with the real sandbox, the real reward server and, where an LLM is needed, the scripted
OpenAI-compatible server on loopback (a fixture for protocol tests, not a model)."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
