"""The paper's yield claim, measured: multi-turn (adaptive) against single-turn sampling.

The paper reports that multi-turn refinement raises the fraction of viable problems after the RL
keep-filter by more than 4x over sampling the teacher independently from the same seed
(docs/design.md §2). This grows, for one environment at a time, one ``adaptive`` and one
``single_turn`` chain from each of the same held-out seeds, with the same teacher-call budget per
chain (``max_turns``), and reports for each mode the viable problems per teacher call, their
ratio with a paired bootstrap interval over seeds, and the reason of every rejection.

Held-out seeds: seed numbers ``FIRST_SEED`` .. ``FIRST_SEED + 23`` (24 per environment, the same
24 for every environment) of :class:`stepstones.seeds.SeedSampler` over this Python's standard
library (``--seed-source`` for another), 25-50 line windows unless ``--seed-unit function``.
``stepstones generate`` and the tests draw seed numbers from 0, so these are never seen there.
Each seed's file and lines are written to the results.

Models: the configured endpoints (``--teacher-url``/``--student-url`` or the environment, as
``stepstones generate``), else the embedded local models, with the embedded defaults'
settings (``stepstones.pipeline.LOCAL_CONFIG``; ``--turns`` and ``--samples`` override).
On 2 CPU cores a teacher call of the 1.5B takes about 25 s: one environment (48 chains of 3
turns) is about 2 hours, so the set is grown one environment at a time over several runs.

Fairness: each mode has its own record of problems already seen, so a single-turn sample equal
to the adaptive chain's first problem (the same prompt) is not rejected as a duplicate of
another mode's work. An adaptive chain stops early only when it holds a problem in every
wanted band; yields are per teacher call actually made, and the calls are reported.

Resumable: the chains go to ``bench/results/yield/<env>/`` through the run store, so a killed
run (even ``kill -9``) continues where it stopped, keeping every finished chain and never
storing one twice. ``--stop-after N`` ends a run after N new chains (for bounded slices).

Without ``--env`` nothing is generated: the figures of every environment grown so far are
reported (this is what ``run_all.py`` does; it never starts a model).

    nice -n 10 .venv/bin/python bench/bench_yield.py --env induction        # grow, then report
    .venv/bin/python bench/bench_yield.py --json bench/results/yield.json    # report only

Writes ``bench/results/yield/<env>/`` (the run, its ``stepstones report`` page in ``report/``)
and ``bench/results/yield/summary.json``; ``--json PATH`` writes the benchmark document.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from contextlib import AsyncExitStack
from functools import partial
from pathlib import Path
from typing import Any

import anyio

import stepstones
from stepstones.envs import get as get_env
from stepstones.errors import ConfigError
from stepstones.llm import Endpoint
from stepstones.pipeline import (
    LOCAL_CONFIG,
    Config,
    Job,
    Manifest,
    Runner,
    RunStore,
    TurnContext,
    open_backends,
    read_chains,
)
from stepstones.records import ENVIRONMENTS, Chain, Env, Mode, Seed
from stepstones.report import load_run, write_report
from stepstones.sandbox import Sandbox
from stepstones.seeds import SeedSampler

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Report, write_json

MODES: tuple[Mode, Mode] = ("adaptive", "single_turn")
SEEDS_PER_ENV = 24
FIRST_SEED = 1000
TURNS = 3
RESULTS = Path(__file__).resolve().parent / "results" / "yield"
#: The paper's claim: adaptive yield over single-turn yield.
CLAIM = 4.0
RESAMPLES = 4000

#: (viable problems, teacher calls) of one chain.
Counts = tuple[int, int]
#: One seed with both modes: adaptive viable, adaptive calls, single-turn viable, calls.
Pair = tuple[int, int, int, int]


def chain_counts(chain: Chain, config: Config) -> Counts:
    viable = sum(1 for p in chain.problems if config.is_viable(p.pass_rate))
    return viable, len(chain.turns)


def pairs_of(chains: Iterable[Chain], config: Config, seed_ids: Sequence[str]) -> list[Pair]:
    """One :data:`Pair` per seed that has both modes stored, in ``seed_ids`` order."""
    by_seed: dict[str, dict[str, Counts]] = {}
    for chain in chains:
        by_seed.setdefault(chain.seed.id, {})[chain.mode] = chain_counts(chain, config)
    out: list[Pair] = []
    for sid in seed_ids:
        modes = by_seed.get(sid, {})
        if all(m in modes for m in MODES):
            (av, ac), (sv, sc) = modes["adaptive"], modes["single_turn"]
            out.append((av, ac, sv, sc))
    return out


def yields(pairs: Sequence[Pair]) -> tuple[float | None, float | None]:
    """Viable problems per teacher call of adaptive and single_turn over the pairs."""
    sums = [sum(p[i] for p in pairs) for i in range(4)]
    adaptive = sums[0] / sums[1] if sums[1] else None
    single = sums[2] / sums[3] if sums[3] else None
    return adaptive, single


def ratio(pairs: Sequence[Pair]) -> float | None:
    """Adaptive yield over single-turn yield; inf when only single-turn has no viable problem,
    None when there is nothing to compare (no pairs, or neither mode has a viable problem)."""
    adaptive, single = yields(pairs)
    if adaptive is None or single is None or (adaptive == 0 and single == 0):
        return None
    return adaptive / single if single else float("inf")


def bootstrap(
    pairs: Sequence[Pair],
    *,
    resamples: int = RESAMPLES,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float] | None:
    """Percentile interval of :func:`ratio` over seeds drawn with replacement (paired: a seed
    brings both its chains). Resamples with no viable problem in either mode are left out;
    one with none in single-turn only counts as inf. None without pairs."""
    if not pairs:
        return None
    rng = random.Random(seed)
    values = []
    for _ in range(resamples):
        r = ratio([pairs[rng.randrange(len(pairs))] for _ in pairs])
        if r is not None:
            values.append(r)
    if not values:
        return None
    values.sort()
    tail = (1 - level) / 2
    low = values[int(tail * (len(values) - 1))]
    high = values[round((1 - tail) * (len(values) - 1))]
    return low, high


def rejections(chains: Iterable[Chain]) -> dict[str, dict[str, Any]]:
    """Per mode: rejected turns by kind, and every distinct reason with its count."""
    out: dict[str, dict[str, Any]] = {}
    for mode in MODES:
        kinds: Counter[str] = Counter()
        reasons: Counter[str] = Counter()
        for chain in chains:
            if chain.mode != mode:
                continue
            for turn in chain.turns:
                if turn.rejection is not None:
                    kinds[turn.rejection.kind] += 1
                    reasons[f"{turn.rejection.kind}: {turn.rejection.reason}"] += 1
        out[mode] = {"by_kind": dict(kinds.most_common()), "reasons": dict(reasons.most_common())}
    return out


def outcomes(chains: Iterable[Chain], config: Config) -> dict[str, dict[str, int]]:
    """Per mode, what every teacher call ended as: rejected (or no reply), or a valid problem
    that was viable, too easy (above the keep-filter: the student always solves it), too hard
    (below it) or not measured. This says why one mode yields more than the other."""
    out: dict[str, dict[str, int]] = {}
    for mode in MODES:
        counts: Counter[str] = Counter()
        for chain in chains:
            if chain.mode != mode:
                continue
            for turn in chain.turns:
                rate = turn.problem.pass_rate if turn.problem is not None else None
                if turn.problem is None:
                    counts["rejected" if turn.rejection is not None else "no_reply"] += 1
                elif rate is None:
                    counts["unmeasured"] += 1
                elif config.is_viable(rate):
                    counts["viable"] += 1
                else:
                    counts["too_easy" if rate > config.keep_high else "too_hard"] += 1
        out[mode] = dict(counts.most_common())
    return out


def seeds_for(source: str | None, unit: str, first: int, n: int) -> list[Seed]:
    sampler = SeedSampler(source, unit=unit)  # type: ignore[arg-type]
    return sampler.samples(n, seed=first)


def _endpoint(url: str | None, model: str | None, role: str) -> Endpoint | None:
    if url is None and model is None:
        return None
    if url is None or model is None:
        raise SystemExit(f"--{role}-url and --{role}-model go together; give both")
    return Endpoint(base_url=url, model=model, max_concurrency=8)


def _model(name: str) -> str:
    return name.split(" @ ", maxsplit=1)[0]  # the URL part changes (the embedded server's port)


def _same_models(stored: Manifest, now: Manifest, run_dir: Path) -> None:
    """A chain id does not name the models: resuming with others would mix two measurements."""
    for role in ("teacher", "student"):
        before, after = _model(getattr(stored, role)), _model(getattr(now, role))
        if before != after:
            raise ConfigError(
                f"{run_dir} was grown with {role} {before!r}, not {after!r}: "
                "give another --out to measure this model"
            )


async def grow(args: argparse.Namespace, env: Env, seeds: Sequence[Seed], run_dir: Path) -> int:
    """Grow the missing chains of ``env`` into ``run_dir``; returns how many were stored."""
    teacher = _endpoint(args.teacher_url, args.teacher_model, "teacher")
    student = _endpoint(args.student_url, args.student_model, "student")
    stored = 0
    async with AsyncExitStack() as stack:
        sandbox = stack.enter_context(Sandbox(workers=1))
        backends = await stack.enter_async_context(open_backends(teacher, student))
        config = LOCAL_CONFIG.replace(max_turns=args.turns, samples=args.samples)
        manifest = Manifest(
            config=config,
            modes=MODES,
            envs=(env,),
            teacher=backends.teacher_name,
            student=backends.student_name,
            seeds=f"{args.seed_source or 'stdlib'} ({args.seed_unit}) #{args.first_seed}+",
            stepstones_version=stepstones.__version__,
        )
        store = stack.enter_context(RunStore.open(run_dir, manifest))
        _same_models(store.manifest, manifest, run_dir)
        done = list(read_chains(run_dir))
        runners: list[Runner] = []

        def on_chain(chain: Chain) -> None:
            nonlocal stored
            stored += 1
            print(f"  stored {chain.mode} chain of seed {chain.seed.id} ({stored} new)", flush=True)
            if args.stop_after is not None and stored >= args.stop_after:
                for r in runners:
                    r.stop()

        for mode in MODES:
            ctx = TurnContext(
                env=get_env(env),
                teacher=backends.teacher,
                student=backends.student,
                sandbox=sandbox,
                config=config,
                # Per mode: a single-turn sample is not a duplicate of the adaptive chain's.
                seen_problems={p.id for c in done if c.mode == mode for p in c.problems},
            )
            runners.append(Runner({env: ctx}, store=store, chains_in_flight=1, on_chain=on_chain))
        async with anyio.create_task_group() as tg:
            for runner, mode in zip(runners, MODES, strict=True):
                jobs = [Job(seed=s, env=env, mode=mode) for s in seeds]
                tg.start_soon(partial(runner.run, jobs, chains=2 * len(seeds)))
    return stored


def summarize(env: str, run_dir: Path, seeds: Sequence[Seed] | None) -> dict[str, Any]:
    """The figures of one environment's run (restricted to ``seeds`` when given)."""
    run = load_run(run_dir)
    seed_ids = (
        [s.id for s in seeds]
        if seeds is not None
        else list(dict.fromkeys(c.seed.id for c in run.chains))
    )
    chains = [c for c in run.chains if c.seed.id in set(seed_ids)]
    pairs = pairs_of(chains, run.config, seed_ids)
    adaptive, single = yields(pairs)
    point = ratio(pairs)
    interval = bootstrap(pairs)
    sums = [sum(p[i] for p in pairs) for i in range(4)]
    return {
        "env": env,
        "run_dir": str(run_dir),
        "seeds_paired": len(pairs),
        "chains": len(chains),
        "teacher": run.manifest.teacher if run.manifest else "",
        "student": run.manifest.student if run.manifest else "",
        "adaptive": {"viable": sums[0], "calls": sums[1], "yield": adaptive},
        "single_turn": {"viable": sums[2], "calls": sums[3], "yield": single},
        "ratio": point,
        "ratio_interval_95": list(interval) if interval else None,
        "calls_per_seed": {
            "adaptive": sorted({p[1] for p in pairs}),
            "single_turn": sorted({p[3] for p in pairs}),
        },
        "outcomes": outcomes(chains, run.config),
        "rejections": rejections(chains),
        "seeds": [
            {
                "id": c.seed.id,
                "source": c.seed.source,
                "lines": [c.seed.start_line, c.seed.end_line],
            }
            for c in chains
            if c.mode == "single_turn"
        ],
    }


def _fmt(x: float | None) -> str:
    return "—" if x is None else ("inf" if x == float("inf") else f"{x:.3f}")


def _print(s: dict[str, Any]) -> None:
    a, b = s["adaptive"], s["single_turn"]
    interval = s["ratio_interval_95"]
    shown = "—" if interval is None else f"{_fmt(interval[0])}-{_fmt(interval[1])}"
    print(
        f"  {s['env']:<10} seeds {s['seeds_paired']:>2}  adaptive {a['viable']}/{a['calls']} = "
        f"{_fmt(a['yield'])}  single_turn {b['viable']}/{b['calls']} = {_fmt(b['yield'])}  "
        f"ratio {_fmt(s['ratio'])} (95 % {shown})",
        flush=True,
    )
    for mode in MODES:
        kinds = s["rejections"][mode]["by_kind"]
        print(f"    {mode} calls: {s['outcomes'][mode] or 'none'}", flush=True)
        print(f"    {mode} rejections: {kinds or 'none'}", flush=True)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--env", choices=ENVIRONMENTS, default=None, help="grow this environment")
    p.add_argument("--seeds", type=int, default=SEEDS_PER_ENV, help="held-out seeds per env")
    p.add_argument("--first-seed", type=int, default=FIRST_SEED, help="first seed number")
    p.add_argument("--seed-source", default=None, help="seed source (default: the stdlib)")
    p.add_argument("--seed-unit", choices=("window", "function"), default="window")
    p.add_argument("--turns", type=int, default=TURNS, help="teacher calls per chain")
    p.add_argument("--samples", type=int, default=LOCAL_CONFIG.samples, help="M per problem")
    p.add_argument("--stop-after", type=int, default=None, help="stop after N new chains")
    p.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    p.add_argument("--no-report", action="store_true", help="skip the run's report page")
    p.add_argument("--teacher-url", default=None)
    p.add_argument("--teacher-model", default=None)
    p.add_argument("--student-url", default=None)
    p.add_argument("--student-model", default=None)
    p.add_argument("--json", metavar="PATH", help="write the benchmark document here")
    p.add_argument("--strict", action="store_true", help="exit 2 when a ratio misses 4x")
    # run_all.py passes these to every benchmark; this one repeats nothing.
    p.add_argument("--repeats", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--quick", action="store_true", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    logging.basicConfig(level=logging.WARNING, format="bench_yield: %(message)s")
    report = Report("yield", args)
    try:
        seeds = None
        if args.env is not None:
            seeds = seeds_for(args.seed_source, args.seed_unit, args.first_seed, args.seeds)
            run_dir = args.out / args.env
            print(f"growing {args.env} into {run_dir} ({len(seeds)} seeds x {MODES})", flush=True)
            new = anyio.run(grow, args, args.env, seeds, run_dir)
            report.metric(f"{args.env}_new_chains", new)
            if not args.no_report:
                report.note(f"{args.env}: report at {write_report(run_dir)}")
        summaries = []
        for env in ENVIRONMENTS:
            run_dir = args.out / env
            if not (run_dir / "chains.jsonl").is_file():
                continue
            summaries.append(summarize(env, run_dir, seeds if env == args.env else None))
        if not summaries:
            report.note(f"nothing grown yet in {args.out}: run with --env ENV")
        for s in summaries:
            _print(s)
            a, b = s["adaptive"], s["single_turn"]
            if s["seeds_paired"] and s["ratio"] is not None:
                report.ratio(
                    f"{s['env']}_adaptive_over_single_turn",
                    a["yield"],
                    b["yield"],
                    target=CLAIM,
                )
        report.extra["envs"] = summaries
        if summaries:
            write_json(str(args.out / "summary.json"), {"envs": summaries})
    except Exception as exc:
        return report.finish(exc)
    return report.finish()


if __name__ == "__main__":
    sys.exit(main())
