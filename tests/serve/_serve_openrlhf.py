"""OpenRLHF 0.11.2's own source, fetched once from PyPI (``pip download --no-deps``) into the
user cache, so tests can check our launch flags against its real argument parser."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

VERSION = "0.11.2"


def openrlhf_wheel() -> zipfile.ZipFile:
    """The OpenRLHF wheel; the test is skipped (with the reason) when PyPI is unreachable."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "stepstones-tests"
    cache.mkdir(parents=True, exist_ok=True)
    found = sorted(cache.glob(f"openrlhf-{VERSION}-*.whl"))
    if not found:
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
             "--python-version", "3.11", f"openrlhf=={VERSION}", "-d", str(cache), "-q"],
            capture_output=True, text=True, timeout=240, check=False,
        )  # fmt: skip
        found = sorted(cache.glob(f"openrlhf-{VERSION}-*.whl"))
        if not found:
            pytest.skip(f"cannot download openrlhf=={VERSION} from PyPI: {proc.stderr[-300:]}")
    return zipfile.ZipFile(found[0])


def read_source(member_suffix: str) -> str:
    """The text of the wheel member whose path ends with ``member_suffix``."""
    wheel = openrlhf_wheel()
    names = [n for n in wheel.namelist() if n.endswith(member_suffix)]
    assert names, f"{member_suffix} not in the openrlhf {VERSION} wheel"
    return wheel.read(names[0]).decode()
