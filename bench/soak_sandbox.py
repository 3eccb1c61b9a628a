"""Soak the sandbox: 100,000 jobs, then prove the caller leaked nothing.

A mix of jobs (mostly tiny scripts, plus calls, crashes, output floods, memory kills and timeouts,
each with a checked answer) runs in batches on one :class:`Sandbox`. After a warm-up, and then
every ``--sample-every`` batches, it records this process's open fds (``/proc/self/fd``), RSS
(``VmRSS``), threads, its live descendants, and zombies among this process's descendants. It
fails (exit 1) if any answer is wrong, any zombie is seen, the fd count grows, the descendant
count changes, or RSS grows by more than ``--rss-slack-mib``.

Run: ``.venv/bin/python bench/soak_sandbox.py --json bench/results/soak.json`` (about 100k jobs;
``--jobs N`` for fewer; ``--async`` for concurrent ``Sandbox.run`` calls). Not run by
run_all.py: it is long and measures leaks, not speed.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _common import Report, check, descendants  # bench/ is on sys.path: scripts run from it
from stepstones.sandbox import Call, Limits, Outcome, Sandbox, Script

CALL_SOURCE = "def f(x):\n    return x * 2\n"
FLOOD = "import sys\nsys.stdout.write('x' * 200_000)\n"
SPIN = "while True:\n    pass\n"
BOMB = "blocks = [bytearray(1 << 30)]\n"


def make_batch(start: int, size: int) -> tuple[list[Script | Call], list[Any]]:
    """Jobs and, for each, what its outcome must look like."""
    jobs: list[Script | Call] = []
    want: list[Any] = []
    for i in range(start, start + size):
        slot = i % 1000
        if slot < 20:
            jobs.append(Call(source=CALL_SOURCE, function="f", args=(str(i), "'ab'")))
            want.append(("call", (repr(2 * i), "'abab'")))
        elif slot < 28:
            jobs.append(Script(source=f"raise ValueError('boom {i}')"))
            want.append(("error", "ValueError"))
        elif slot == 28:
            jobs.append(Script(source=FLOOD, limits=Limits(output_kib=16)))
            want.append(("status", "output_limit"))
        elif slot == 29:
            jobs.append(Script(source=BOMB, limits=Limits(memory_mib=64)))
            want.append(("status", "memory_limit"))
        elif slot == 30:
            jobs.append(Script(source=SPIN, limits=Limits(wall_time_s=0.3, cpu_time_s=0.2)))
            want.append(("status", "timeout"))
        else:
            jobs.append(Script(source=f"print({i})"))
            want.append(("stdout", f"{i}\n"))
    return jobs, want


def verify(outcome: Outcome, want: Any) -> bool:
    kind, value = want
    if kind == "stdout":
        return outcome.status == "ok" and outcome.stdout == value
    if kind == "call":
        return outcome.status == "ok" and tuple(c.value for c in outcome.calls) == value
    if kind == "error":
        return outcome.status == "runtime_error" and outcome.exception_type == value
    return bool(outcome.status == value)


def sample() -> dict[str, Any]:
    status = Path("/proc/self/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    kids = descendants()
    zombies = []
    for pid in kids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if stat[stat.rindex(")") + 2] == "Z":
            zombies.append(pid)
    return {
        "fds": sum(1 for _ in Path("/proc/self/fd").iterdir()),
        "rss_kib": int(fields["VmRSS"].split()[0]),
        "threads": int(fields["Threads"]),
        "descendants": len(kids),
        "zombies": zombies,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--sample-every", type=int, default=10, metavar="BATCHES")
    parser.add_argument("--rss-slack-mib", type=float, default=16.0)
    parser.add_argument(
        "--async",
        dest="use_async",
        action="store_true",
        help="run each batch as concurrent Sandbox.run calls (the engine's queue) instead of "
        "run_batch",
    )
    args = parser.parse_args(argv)
    args.repeats, args.quick, args.strict = 1, False, False  # for Report
    report = Report("soak_sandbox", args)
    try:
        run(report, args)
    except Exception as exc:  # a wrong answer, a leak or a crash
        return report.finish(exc)
    return report.finish()


def _run_async(sb: Sandbox, jobs: list[Script | Call]) -> list[Outcome]:
    async def gather() -> list[Outcome]:
        return list(await asyncio.gather(*(sb.run(job) for job in jobs)))

    return asyncio.run(gather())


def run(report: Report, args: argparse.Namespace) -> None:
    samples: list[dict[str, Any]] = []
    wrong = 0
    done = 0
    report.note("async: concurrent Sandbox.run calls" if args.use_async else "sync: run_batch")
    with Sandbox() as sb:
        run_batch = functools.partial(_run_async, sb) if args.use_async else sb.run_batch
        report.extra["capabilities_active"] = list(sb.capabilities.active)
        for warm in range(2):  # let allocators, caches and threads reach steady state
            jobs, want = make_batch(-(warm + 1) * args.batch, args.batch)
            run_batch(jobs)
        first = sample()
        samples.append(first)
        start = time.perf_counter()
        batch_no = 0
        while done < args.jobs:
            size = min(args.batch, args.jobs - done)
            jobs, want = make_batch(done, size)
            outcomes = run_batch(jobs)
            bad = [(o, w) for o, w in zip(outcomes, want, strict=True) if not verify(o, w)]
            wrong += len(bad)
            check(not bad, f"batch {batch_no}: {len(bad)} wrong, first {bad[:1]}")
            done += size
            batch_no += 1
            if batch_no % args.sample_every == 0:
                s = sample()
                samples.append(s)
                print(f"  {done:>7} jobs  {s}", flush=True)
                check(not s["zombies"], f"zombies among our descendants: {s['zombies']}")
        elapsed = time.perf_counter() - start
        last = sample()
        samples.append(last)
    report.metric("jobs", done)
    report.metric("wrong_answers", wrong)
    report.metric("elapsed_s", elapsed)
    report.metric("jobs_per_s", done / elapsed)
    report.metric("fds_start", first["fds"])
    report.metric("fds_end", last["fds"])
    report.metric("rss_start_kib", first["rss_kib"])
    report.metric("rss_end_kib", last["rss_kib"])
    report.metric("rss_max_kib", max(s["rss_kib"] for s in samples))
    report.metric("threads_start", first["threads"])
    report.metric("threads_end", last["threads"])
    report.metric("descendants_start", first["descendants"])
    report.metric("descendants_end", last["descendants"])
    report.metric("zombies_seen", sum(len(s["zombies"]) for s in samples))
    report.extra["samples"] = samples
    check(last["fds"] <= first["fds"], f"fds grew from {first['fds']} to {last['fds']}")
    check(
        last["descendants"] == first["descendants"],
        f"live descendants went from {first['descendants']} to {last['descendants']}",
    )
    growth_mib = (last["rss_kib"] - first["rss_kib"]) / 1024
    check(growth_mib <= args.rss_slack_mib, f"RSS grew by {growth_mib:.1f} MiB")


if __name__ == "__main__":
    sys.exit(main())
