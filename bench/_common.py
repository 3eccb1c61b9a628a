"""Helpers shared by every benchmark in bench/ (see bench/README.md for the rules and the API).

A benchmark here measures a *subject* against a *baseline* in the same process run, repeats both
in interleaved rounds (so drift, thermal state and noisy neighbours hit both alike), reports
medians and ratios, checks that every answer it timed was right, and writes one JSON document
with ``--json``.

Timing is wall clock (``time.perf_counter``) unless a metric says CPU. CPU of a process *tree* is
:func:`tree_cpu_s`: this process's own rusage plus, for every live descendant (sandbox zygotes and
their helpers), the user+system time of the process and of the children it has reaped, read from
``/proc/<pid>/stat``. ``RUSAGE_CHILDREN`` alone would miss grandchildren reaped by a zygote.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "BenchCheckError",
    "CoreReport",
    "Report",
    "check",
    "descendants",
    "environment",
    "interleave",
    "measure_cores",
    "median",
    "parse_args",
    "tree_cpu_s",
    "write_json",
]

_CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchCheckError(AssertionError):
    """A benchmark computed a wrong answer: its timings mean nothing."""


def check(condition: bool, message: str) -> None:
    """Fail the benchmark (exit status 1 via :meth:`Report.finish`) unless ``condition`` holds."""
    if not condition:
        raise BenchCheckError(message)


def median(values: Sequence[float]) -> float:
    """Median of a non-empty sequence."""
    if not values:
        raise ValueError("median of no values")
    return float(statistics.median(values))


def interleave(
    cases: Mapping[str, Callable[[], object]], *, repeats: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Time each case once per round for ``repeats`` rounds; return wall seconds per case.

    The order of the cases rotates every round, so no case always runs first or last. Each case
    runs ``warmup`` times untimed first. A case's return value is ignored: check answers inside it.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    names = list(cases)
    for _ in range(warmup):
        for name in names:
            cases[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_no in range(repeats):
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            cases[name]()
            times[name].append(time.perf_counter() - start)
    return times


def _spin(seconds: float) -> int:
    """Burn CPU for about ``seconds`` of wall time; return the iteration count."""
    end = time.perf_counter() + seconds
    count = 0
    while time.perf_counter() < end:
        for _ in range(10_000):
            count += 1
    return count


def _spin_fixed(iterations: int) -> int:
    total = 0
    for i in range(iterations):
        total += i & 7
    return total


@dataclass(frozen=True)
class CoreReport:
    """How many cores this run really gets.

    ``affinity`` is what the scheduler allows; ``parallel_speedup`` is the measured throughput of
    ``affinity`` processes running the same CPU-bound loop at once divided by one process's
    (ideal: ``affinity``). ``effective`` rounds the speedup down to half-cores.
    """

    affinity: int
    one_process_s: float
    all_processes_s: float
    parallel_speedup: float

    @property
    def effective(self) -> float:
        return int(self.parallel_speedup * 2) / 2

    def to_json(self) -> dict[str, float]:
        return {
            "affinity": self.affinity,
            "one_process_s": self.one_process_s,
            "all_processes_s": self.all_processes_s,
            "parallel_speedup": self.parallel_speedup,
            "effective": self.effective,
        }


def measure_cores(iterations: int = 8_000_000, repeats: int = 3) -> CoreReport:
    """Time a CPU-bound loop in one process, then in one process per allowed core, at once.

    Uses fresh processes (``spawn``), never threads, so the GIL plays no part. Medians of
    ``repeats`` interleaved rounds.
    """
    affinity = len(os.sched_getaffinity(0))
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(affinity) as pool:
        pool.map(_spin_fixed, [1000] * affinity)  # start every worker before timing

        def one() -> None:
            pool.apply(_spin_fixed, (iterations,))

        def all_at_once() -> None:
            pool.map(_spin_fixed, [iterations] * affinity, chunksize=1)

        times = interleave({"one": one, "all": all_at_once}, repeats=repeats, warmup=0)
    one_s, all_s = median(times["one"]), median(times["all"])
    # all_s runs `affinity` times the work of one_s.
    return CoreReport(affinity, one_s, all_s, affinity * one_s / all_s)


def descendants(pid: int | None = None) -> list[int]:
    """Live descendants of ``pid`` (default: this process), found through /proc/*/stat ppids."""
    root = os.getpid() if pid is None else pid
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out: list[int] = []
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            out.append(child)
            stack.append(child)
    return out


def _stat_cpu_s(pid: int) -> float:
    """utime+stime+cutime+cstime of one process, seconds; 0.0 if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state); utime..cstime are fields 14..17.
    ticks = sum(int(fields[i]) for i in range(11, 15))
    return ticks / _CLK_TCK


def tree_cpu_s() -> float:
    """CPU seconds used so far by this process and every live descendant (see module doc).

    Take the difference of two readings around the measured work, with the same descendants alive
    at both readings (e.g. a started sandbox), and every job's process reaped in between.
    """
    own = os.times()
    total = own.user + own.system
    return total + sum(_stat_cpu_s(pid) for pid in descendants())


def environment() -> dict[str, Any]:
    """Where the numbers were taken."""
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)),
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def write_json(path: str | os.PathLike[str], payload: Mapping[str, Any]) -> None:
    """Write ``payload`` as indented JSON, creating parent folders; atomic via a rename."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    tmp.replace(target)


def parse_args(description: str, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the common flags: ``--json PATH``, ``--repeats N``, ``--quick``, ``--strict``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--json", metavar="PATH", help="write the results here as JSON")
    parser.add_argument(
        "--repeats", type=int, default=5, help="interleaved repetitions per case (median; >= 5)"
    )
    parser.add_argument("--quick", action="store_true", help="smaller workloads, for a smoke run")
    parser.add_argument(
        "--strict", action="store_true", help="exit 2 when a ratio misses its target"
    )
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    return args


@dataclass
class Report:
    """Everything one benchmark found; :meth:`finish` writes JSON and picks the exit status.

    ``metrics`` are absolute figures (with a unit in the name, e.g. ``runs_per_s``); ``ratios``
    compare a subject with a baseline measured in the same run, optionally against a target
    (``higher`` or ``lower`` is better); ``notes`` say how something was measured.
    """

    bench: str
    args: argparse.Namespace
    metrics: dict[str, float | int | str | None] = field(default_factory=dict)
    ratios: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def metric(self, name: str, value: float | int | str | None) -> None:
        self.metrics[name] = value
        shown = f"{value:,.3f}" if isinstance(value, float) else str(value)
        print(f"  {name:<48} {shown}", flush=True)

    def ratio(
        self,
        name: str,
        subject: float,
        baseline: float,
        *,
        target: float | None = None,
        better: str = "higher",
    ) -> float:
        """Record ``subject / baseline`` and whether it meets ``target`` (``better``: which way)."""
        if better not in ("higher", "lower"):
            raise ValueError(f"better must be 'higher' or 'lower', got {better!r}")
        value = subject / baseline if baseline else float("inf")
        met = None
        if target is not None:
            met = value >= target if better == "higher" else value <= target
        self.ratios[name] = {
            "value": value,
            "subject": subject,
            "baseline": baseline,
            "target": target,
            "better": better,
            "met": met,
        }
        verdict = "" if met is None else ("  [target met]" if met else "  [TARGET MISSED]")
        sign = ">=" if better == "higher" else "<="
        goal = "" if target is None else f" (target {sign} {target})"
        print(f"  {name:<48} {value:.2f}x{goal}{verdict}", flush=True)
        return value

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"  note: {text}", flush=True)

    def missed(self) -> list[str]:
        return [name for name, r in self.ratios.items() if r["met"] is False]

    def to_json(self, *, ok: bool, error: str | None = None) -> dict[str, Any]:
        return {
            "bench": self.bench,
            "ok": ok,
            "error": error,
            "environment": environment(),
            "repeats": self.args.repeats,
            "quick": self.args.quick,
            "metrics": self.metrics,
            "ratios": self.ratios,
            "targets_missed": self.missed(),
            "notes": self.notes,
            "extra": self.extra,
        }

    def finish(self, error: BaseException | None = None) -> int:
        """Write JSON (when ``--json`` was given) and return the exit status.

        0: answers checked and right; 1: a wrong answer or a crash (``error``); 2: with
        ``--strict``, a ratio missed its target.
        """
        message = None if error is None else f"{type(error).__name__}: {error}"
        if self.args.json:
            write_json(self.args.json, self.to_json(ok=error is None, error=message))
        if error is not None:
            print(f"{self.bench}: FAILED: {message}", file=sys.stderr, flush=True)
            return 1
        missed = self.missed()
        if missed:
            print(f"{self.bench}: targets missed: {', '.join(missed)}", flush=True)
            if self.args.strict:
                return 2
        return 0
