"""Run every ``bench/bench_*.py`` in its own process and merge their ``--json`` results.

Usage: ``.venv/bin/python bench/run_all.py --json bench/results/latest.json [--quick] [--repeats N]
[--strict] [--only NAME ...]``. Each benchmark gets the same flags and a temporary ``--json`` path;
the merged document maps a benchmark's name (``bench_sandbox.py`` -> ``sandbox``) to what it wrote,
or to ``{"ok": false, "error": ...}`` when it crashed before writing. Exit status: 0 when every
benchmark checked its answers and exited 0, else the highest status seen (1: wrong answer or crash,
2: a target missed under ``--strict``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _common import environment, write_json  # bench/ is on sys.path: scripts run from it

BENCH_DIR = Path(__file__).resolve().parent


def discover(only: Sequence[str] = ()) -> list[Path]:
    """Every bench_*.py here, sorted; ``only`` keeps the named ones (``sandbox`` or a file name)."""
    found = sorted(BENCH_DIR.glob("bench_*.py"))
    if only:
        wanted = {name.removeprefix("bench_").removesuffix(".py") for name in only}
        found = [p for p in found if p.stem.removeprefix("bench_") in wanted]
        missing = wanted - {p.stem.removeprefix("bench_") for p in found}
        if missing:
            raise SystemExit(f"no benchmark named {sorted(missing)} in {BENCH_DIR}")
    return found


def run_one(path: Path, flags: list[str], timeout_s: float) -> tuple[int, dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        out = Path(tmp) / "result.json"
        start = time.perf_counter()
        try:
            done = subprocess.run(
                [sys.executable, str(path), "--json", str(out), *flags],
                check=False,
                timeout=timeout_s,
            )
            code = done.returncode
        except subprocess.TimeoutExpired:
            code = 1
        elapsed = time.perf_counter() - start
        if out.exists():
            result: dict[str, Any] = json.loads(out.read_text())
        else:
            result = {"ok": False, "error": f"exited {code} without writing results"}
        if code != 0 and result.get("ok", False):
            result["ok"] = code == 2  # 2: answers right, a target missed under --strict
        result["exit_status"] = code
        result["elapsed_s"] = elapsed
        return code, result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="PATH", help="write the merged results here")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--strict", action="store_true")
    parser.add_argument("--only", nargs="*", default=(), metavar="NAME")
    parser.add_argument("--timeout-s", type=float, default=1800.0, help="per benchmark")
    args = parser.parse_args(argv)
    flags = [f"--repeats={args.repeats}"]
    flags += ["--quick"] if args.quick else []
    flags += ["--strict"] if args.strict else []
    merged: dict[str, Any] = {"environment": environment(), "benches": {}}
    worst = 0
    for path in discover(args.only):
        name = path.stem.removeprefix("bench_")
        print(f"== {path.name}", flush=True)
        code, result = run_one(path, flags, args.timeout_s)
        merged["benches"][name] = result
        worst = max(worst, code)
        missed = result.get("targets_missed") or []
        status = "ok" if code == 0 else f"exit {code}"
        print(f"== {path.name}: {status}; targets missed: {missed or 'none'}", flush=True)
    merged["ok"] = worst == 0
    if args.json:
        write_json(args.json, merged)
    return worst


if __name__ == "__main__":
    sys.exit(main())
