"""The trainers' wheels the conformance tests read: pinned with sha256, fetched by
``make install``, never downloaded by a test; missing ones skip, or fail under ``CI``."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from _trainer_wheels import (
    OPENRLHF,
    PINS_FILE,
    TRANSFORMERS,
    TRL,
    VERL,
    cache_dir,
    pins,
    wheel_path,
)

ROOT = Path(__file__).resolve().parents[1]


def test_the_constants_are_the_pins() -> None:
    pinned = pins()
    for name, version in (OPENRLHF, VERL, TRL, TRANSFORMERS):
        assert pinned[name][0] == version


def test_make_install_fetches_the_pins_with_hash_checking() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert f"-r tests/{PINS_FILE.name}" in makefile
    assert "--require-hashes" in makefile and "--no-deps" in makefile
    assert "install: $(STAMP) $(WHEELS_STAMP)" in makefile


def test_a_missing_wheel_skips_with_the_fix(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("STEPSTONES_TRAINER_WHEELS", str(tmp_path))
    monkeypatch.delenv("CI", raising=False)
    assert cache_dir() == tmp_path
    with pytest.raises(pytest.skip.Exception, match=r"make install"):
        wheel_path(*VERL)


def test_a_missing_wheel_fails_under_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STEPSTONES_TRAINER_WHEELS", str(tmp_path))
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"CI is set, so this fails instead"):
        wheel_path(*VERL)


def test_a_wheel_that_is_not_the_pinned_one_fails(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("STEPSTONES_TRAINER_WHEELS", str(tmp_path))
    fake = tmp_path / f"verl-{VERL[1]}-py3-none-any.whl"
    fake.write_bytes(b"not the wheel")
    assert hashlib.sha256(fake.read_bytes()).hexdigest() != pins()["verl"][1]
    with pytest.raises(pytest.fail.Exception, match="does not match its sha256"):
        wheel_path(*VERL)


def test_a_test_may_not_ask_for_another_version() -> None:
    with pytest.raises(AssertionError, match=r"pins 0\.9\.1"):
        wheel_path("verl", "0.8.0")
