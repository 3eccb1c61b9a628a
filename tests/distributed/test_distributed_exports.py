"""The public surface of stepstones.distributed, and that Ray stays an optional import."""

from __future__ import annotations

import subprocess
import sys

from stepstones import distributed

EXPECTED = [
    "LOCAL",
    "GenerationWorker",
    "RayRunner",
    "ReplicaSettings",
    "RewardReplica",
    "RewardReplicas",
    "WorkerSpec",
    "check_endpoint",
    "connect",
    "require_ray",
    "run_on_ray",
    "serve_on_ray",
    "shard_of",
]


#: Names stepstones.distributed re-exports from elsewhere in the package, and from where.
REEXPORTED = {"check_endpoint": ("stepstones.llm.",)}


def isort_key(name: str) -> tuple[int, str]:
    # ruff's RUF022 order: CONSTANTS, then Classes, then functions.
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


def test_all_is_sorted_and_complete() -> None:
    assert distributed.__all__ == EXPECTED
    assert sorted(distributed.__all__, key=isort_key) == distributed.__all__
    for name in EXPECTED:
        obj = getattr(distributed, name)
        if callable(obj):
            homes = ("stepstones.distributed.", *REEXPORTED.get(name, ()))
            assert obj.__module__.startswith(homes), name


def test_importing_does_not_import_ray() -> None:
    code = "import sys, stepstones.distributed; sys.exit(1 if 'ray' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_without_ray_the_error_says_how_to_install_it() -> None:
    code = (
        "import sys; sys.modules['ray'] = None\n"
        "from stepstones.distributed import require_ray\n"
        "require_ray()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    assert proc.returncode == 1
    assert "install the Ray extra: pip install 'stepstones[ray]'" in proc.stderr
