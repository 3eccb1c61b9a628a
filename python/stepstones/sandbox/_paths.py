"""Where the zygote's files are, and what a sandboxed job may read."""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

from stepstones.errors import SandboxError

__all__ = ["bootstrap_argv", "readable_paths"]

_HERE = Path(__file__).resolve().parent
_PACKAGE = _HERE.parent

#: System locations of shared libraries and read-only data the interpreter may load lazily
#: (C extension dependencies, time zones). No /etc, no home directories, no /proc.
_SYSTEM_READABLE = (
    "/lib",
    "/lib64",
    "/usr/lib",
    "/usr/lib64",
    "/usr/local/lib",
    "/usr/share/zoneinfo",
    "/dev/null",
    "/dev/zero",
    "/dev/urandom",
)


def _extension_path() -> str:
    from stepstones import _sandbox  # noqa: PLC0415 - only when a sandbox starts

    path = _sandbox.__file__
    if path is None:  # pragma: no cover - an extension module always has a file
        raise SandboxError("stepstones._sandbox has no __file__: reinstall stepstones")
    return str(Path(path).resolve())


def bootstrap_argv() -> list[str]:
    """Arguments after the interpreter path that start one zygote."""
    return [
        "-P",  # no script directory on sys.path
        "-s",  # no user site-packages
        "-S",  # no site module: stdlib only, small and quick to start
        "-X",
        "utf8",
        str(_HERE / "_zygote.py"),
        _extension_path(),
        str(_PACKAGE / "_literal.py"),
        str(_HERE / "_harness.py"),
    ]


def readable_paths() -> list[str]:
    """Directories and files a job may read (and execute, for shared objects): the stdlib."""
    paths = {
        sysconfig.get_path("stdlib"),
        sysconfig.get_path("platstdlib"),
        str(
            Path(sysconfig.get_path("stdlib")).parent
            / f"python{sys.version_info[0]}{sys.version_info[1]}.zip"
        ),
        str(
            Path(sys.base_prefix)
            / "lib"
            / f"python{sys.version_info[0]}.{sys.version_info[1]}"
            / "lib-dynload"
        ),
        str(_HERE),
        str(_PACKAGE / "_literal.py"),
        *_SYSTEM_READABLE,
    }
    return sorted(p for p in paths if p and Path(p).exists())
