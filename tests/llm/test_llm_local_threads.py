"""How many threads the embedded llama.cpp server gets."""

from __future__ import annotations

import os

import pytest

from stepstones.errors import ConfigError
from stepstones.llm._local import default_threads


def test_the_cores_are_shared_out_between_the_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STEPSTONES_LOCAL_THREADS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert default_threads() == 2  # one server: both cores
    assert default_threads(2) == 1  # teacher and student servers: one core each
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    assert default_threads() == 16
    assert default_threads(2) == 8
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert default_threads(2) == 1
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert default_threads() == 1


def test_environment_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEPSTONES_LOCAL_THREADS", "3")
    assert default_threads() == 3
    for bad in ("0", "many"):
        monkeypatch.setenv("STEPSTONES_LOCAL_THREADS", bad)
        with pytest.raises(ConfigError, match="STEPSTONES_LOCAL_THREADS"):
            default_threads()
