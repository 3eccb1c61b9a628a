"""``stepstones generate``'s options and settings, shared by the local and the Ray run.

:func:`add_arguments` declares every option once; :func:`settings` is the only reader of the
parsed arguments. The local run (``stepstones.pipeline._cli``) and the Ray run
(``stepstones.distributed._generate_cli``) take the :class:`GenerateSettings` it returns and
use the helpers below for everything that is not *where* the work runs: the generation
config, the chain target, the manifest, the seed stream and the run loop with its signals.
"""

from __future__ import annotations

import argparse
import inspect
import itertools
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal, Protocol

import anyio
import msgspec

import stepstones
from stepstones._cli._options import (
    add_endpoint_options,
    choices,
    endpoint,
    env_list,
    local_or_file_config,
)
from stepstones.errors import ConfigError, SeedError
from stepstones.llm import Endpoint
from stepstones.pipeline._chain import MODES
from stepstones.pipeline._config import Config
from stepstones.pipeline._feed import Job, RunResult
from stepstones.pipeline._generate import LOCAL_CONFIG
from stepstones.pipeline._progress import Progress
from stepstones.pipeline._signals import stop_on_signals
from stepstones.pipeline._store import Manifest, read_chains
from stepstones.records import ENVIRONMENTS, Env, Mode
from stepstones.seeds import SeedSampler

__all__ = [
    "LOCAL_CHAINS",
    "LOCAL_CONCURRENCY",
    "SERVER_CHAINS",
    "SERVER_CONCURRENCY",
    "GenerateSettings",
    "RaySettings",
    "SeedSettings",
    "add_arguments",
    "chains_in_flight",
    "jobs",
    "manifest",
    "open_seeds",
    "run_config",
    "run_with_signals",
    "say",
    "seen_problems",
    "settings",
    "target_chains",
]

#: Chains a run holds in the end when --chains is not given: few with the embedded model (a
#: smoke test on 2 CPU cores), many with a server.
LOCAL_CHAINS = 2
SERVER_CHAINS = 100
#: Chains grown at once when --concurrency is not given (over all Ray actors together).
LOCAL_CONCURRENCY = 2
SERVER_CONCURRENCY = 64

_LOCAL_SUMMARY = (
    f"{LOCAL_CHAINS} chains, M={LOCAL_CONFIG.samples}, {LOCAL_CONFIG.max_turns} turns, "
    "short replies"
)


class SeedSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Where seeds come from and how they are cut (``SeedSampler``'s parameters).

    source: a directory or .jsonl/.parquet file; None: this Python's standard library.
    first: the seed number of the first job (jobs take first, first+1, ...).
    unit: "window" or "function"; min_lines/max_lines: None keeps SeedSampler's default.
    """

    source: str | None = None
    first: int = 0
    unit: Literal["window", "function"] = "window"
    min_lines: int | None = None
    max_lines: int | None = None


class RaySettings(msgspec.Struct, frozen=True, kw_only=True):
    """Where a Ray run's work goes: the cluster ``address`` and the actors' shape."""

    address: str
    actors: int = 2
    cpus_per_actor: float = 1.0
    max_restarts: int = 3
    local_cpus: int | None = None


class GenerateSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything ``stepstones generate`` was asked for, checked, in one record.

    teacher/student: endpoints given on the command line (None: resolved later from
    --endpoints, the environment, or the embedded model). samples/max_turns override the
    config file's values when set. ray: None runs on this machine.
    """

    out: Path
    seeds: SeedSettings
    envs: tuple[Env, ...]
    modes: tuple[Mode, ...]
    chains: int | None
    config_file: str | None
    samples: int | None
    max_turns: int | None
    teacher: Endpoint | None
    student: Endpoint | None
    endpoints_file: str | None
    concurrency: int | None
    max_requests: int
    sandbox_workers: int | None
    allow_weaker: bool
    progress_interval_s: float
    quiet: bool
    ray: RaySettings | None = None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Every option of ``stepstones generate``, the Ray ones included."""
    parser.description = (
        "Grow chains of stepping-stone problems from code seeds: a teacher LLM writes problems, "
        "a student LLM attempts each one M times, the sandbox grades, and the teacher adapts. "
        "With no endpoint configured (STEPSTONES_BASE_URL/STEPSTONES_MODEL, "
        "STEPSTONES_TEACHER_*/STEPSTONES_STUDENT_*, OPENAI_BASE_URL/OPENAI_MODEL, --teacher-url "
        "or --endpoints), the embedded local model plays teacher and student with small "
        f"defaults ({_LOCAL_SUMMARY}) that finish in a few minutes on 2 CPU cores. Re-running "
        "with the same --out resumes: finished chains are kept and skipped."
    )
    parser.add_argument("--out", required=True, type=Path, help="run directory (created/resumed)")
    seeds = parser.add_argument_group("seeds")
    seeds.add_argument(
        "--seeds",
        default=None,
        help="seed source: a directory of source files, or .jsonl/.parquet files with a "
        "'content' column (default: the standard library sources of this Python)",
    )
    seeds.add_argument("--seed-number", type=int, default=0, help="seed number of the first job")
    seeds.add_argument(
        "--seed-unit",
        choices=("window", "function"),
        default="window",
        help="window: any run of consecutive lines; function: one whole top-level function",
    )
    seeds.add_argument(
        "--seed-min-lines", type=int, default=None, help="shortest seed in lines (default 25)"
    )
    seeds.add_argument(
        "--seed-max-lines", type=int, default=None, help="longest seed in lines (default 50)"
    )
    parser.add_argument(
        "--env",
        type=env_list,
        default=["induction"],
        help=f"environment(s), comma-separated: {', '.join(ENVIRONMENTS)} (default: induction)",
    )
    parser.add_argument(
        "--mode",
        type=lambda t: choices(t, MODES, "--mode"),
        default=["adaptive"],
        help="mode(s), comma-separated: adaptive (seed -> adapt to the pass rate), top_down "
        "(hard -> medium -> easy), single_turn (independent samples; the yield baseline). "
        "Several modes grow one chain each from the same seeds (default: adaptive)",
    )
    parser.add_argument(
        "--chains",
        type=int,
        default=None,
        help=f"chains the run directory should hold in the end (default: {LOCAL_CHAINS} with "
        f"the embedded model, {SERVER_CHAINS} with a server)",
    )
    parser.add_argument(
        "--config", default=None, help="generation settings, TOML (default: $STEPSTONES_CONFIG)"
    )
    parser.add_argument(
        "--samples",
        type=int,
        default=None,
        help=f"M, student samples per problem (default: {LOCAL_CONFIG.samples} with the "
        f"embedded model, else the config's; its default is {Config().samples})",
    )
    parser.add_argument(
        "--max-turns",
        type=int,
        default=None,
        help=f"teacher turns per chain (default: {LOCAL_CONFIG.max_turns} with the embedded "
        f"model, else the config's; its default is {Config().max_turns})",
    )
    add_endpoint_options(parser.add_argument_group("LLM endpoints"), max_requests=256)
    parser.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help=f"chains grown at once, over all Ray actors together (default: {LOCAL_CONCURRENCY} "
        f"with the embedded model, {SERVER_CONCURRENCY} with a server)",
    )
    parser.add_argument(
        "--sandbox-workers",
        type=int,
        default=None,
        help="sandbox zygotes (default: one per core; on Ray, the CPUs of an actor)",
    )
    parser.add_argument(
        "--allow-weaker-sandbox",
        action="store_true",
        help="run even if some isolation layer is unavailable on this kernel",
    )
    parser.add_argument(
        "--progress-interval",
        type=float,
        default=10.0,
        help="seconds between plain progress lines",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress display")
    ray = parser.add_argument_group("Ray (needs: pip install 'stepstones[ray]')")
    ray.add_argument(
        "--ray",
        metavar="ADDRESS",
        default=None,
        help="grow chains on a Ray cluster: 'auto' (the cluster this node belongs to), an "
        "address such as ray://head:10001 or head:6379, or 'local' (a private one-node "
        "cluster). Only the driver writes --out. API keys are not sent to the actors: each "
        "node reads them from the variable they came from here (e.g. OPENAI_API_KEY, or the "
        "endpoint file's api_key_env), so export it before `ray start` on every node.",
    )
    ray.add_argument("--ray-actors", type=int, default=2, help="generation actors (shards)")
    ray.add_argument(
        "--ray-cpus-per-actor",
        type=float,
        default=1.0,
        help="CPUs Ray reserves per actor; its sandbox runs that many zygotes unless "
        "--sandbox-workers says otherwise",
    )
    ray.add_argument(
        "--ray-max-restarts",
        type=int,
        default=3,
        help="fresh actors a shard may get after its actor dies",
    )
    ray.add_argument(
        "--ray-local-cpus",
        type=int,
        default=None,
        help="CPUs of the private cluster with --ray local (default: all cores)",
    )


def _at_least(value: int | float | None, low: int, option: str) -> None:
    if value is not None and value < low:
        raise ConfigError(f"{option} must be >= {low}, got {value}")


def settings(args: argparse.Namespace) -> GenerateSettings:
    """The one reader of ``stepstones generate``'s parsed arguments; checks them all before
    anything starts (ConfigError naming the option)."""
    _at_least(args.chains, 1, "--chains")
    _at_least(args.samples, 1, "--samples")
    _at_least(args.max_turns, 1, "--max-turns")
    _at_least(args.concurrency, 1, "--concurrency")
    _at_least(args.max_requests, 1, "--max-requests")
    _at_least(args.sandbox_workers, 1, "--sandbox-workers")
    _at_least(args.seed_min_lines, 1, "--seed-min-lines")
    _at_least(args.seed_max_lines, 1, "--seed-max-lines")
    if not args.progress_interval > 0:
        raise ConfigError(f"--progress-interval must be > 0 seconds, got {args.progress_interval}")
    ray = None
    if args.ray is not None:
        _at_least(args.ray_actors, 1, "--ray-actors")
        _at_least(args.ray_max_restarts, 0, "--ray-max-restarts")
        _at_least(args.ray_local_cpus, 1, "--ray-local-cpus")
        if args.ray_cpus_per_actor < 0:
            raise ConfigError(f"--ray-cpus-per-actor must be >= 0, got {args.ray_cpus_per_actor}")
        ray = RaySettings(
            address=args.ray,
            actors=args.ray_actors,
            cpus_per_actor=args.ray_cpus_per_actor,
            max_restarts=args.ray_max_restarts,
            local_cpus=args.ray_local_cpus,
        )
    return GenerateSettings(
        out=Path(args.out),
        seeds=SeedSettings(
            source=args.seeds,
            first=args.seed_number,
            unit=args.seed_unit,
            min_lines=args.seed_min_lines,
            max_lines=args.seed_max_lines,
        ),
        envs=tuple(args.env),
        modes=tuple(args.mode),
        chains=args.chains,
        config_file=args.config,
        samples=args.samples,
        max_turns=args.max_turns,
        teacher=endpoint(args.teacher_url, args.teacher_model, "teacher", args.max_requests),
        student=endpoint(args.student_url, args.student_model, "student", args.max_requests),
        endpoints_file=args.endpoints,
        concurrency=args.concurrency,
        max_requests=args.max_requests,
        sandbox_workers=args.sandbox_workers,
        allow_weaker=args.allow_weaker_sandbox,
        progress_interval_s=args.progress_interval,
        quiet=args.quiet,
        ray=ray,
    )


def run_config(s: GenerateSettings, *, local_model: bool) -> Config:
    """The generation config: --config, else $STEPSTONES_CONFIG, else the defaults (the small
    embedded-model defaults when the embedded model runs); --samples/--max-turns on top."""
    config = local_or_file_config(s.config_file, local_model=local_model)
    changes = {}
    if s.samples is not None:
        changes["samples"] = s.samples
    if s.max_turns is not None:
        changes["max_turns"] = s.max_turns
    return config.replace(**changes) if changes else config


def target_chains(s: GenerateSettings, *, local_model: bool) -> int:
    """Chains the run directory should hold in the end."""
    if s.chains is not None:
        return s.chains
    return LOCAL_CHAINS if local_model else SERVER_CHAINS


def chains_in_flight(s: GenerateSettings, *, local_model: bool) -> int:
    """Chains grown at once over the whole run (all Ray actors together)."""
    if s.concurrency is not None:
        return s.concurrency
    return LOCAL_CONCURRENCY if local_model else SERVER_CONCURRENCY


def manifest(s: GenerateSettings, config: Config, *, teacher: str, student: str) -> Manifest:
    """What the run directory records about how it was grown (checked on resume)."""
    return Manifest(
        config=config,
        modes=s.modes,
        envs=s.envs,
        teacher=teacher,
        student=student,
        seeds=s.seeds.source or "stdlib",
        stepstones_version=stepstones.__version__,
    )


def open_seeds(s: GenerateSettings) -> SeedSampler:
    """The seed sampler, with its first seed cut once: a source that yields no seed fails
    here, in one sentence, before any model, sandbox or run directory is started."""
    params = inspect.signature(SeedSampler).parameters
    low, high = s.seeds.min_lines, s.seeds.max_lines
    # One bound given: the other default moves out of its way (--seed-max-lines 10 alone
    # means 10 at most, not an error about the default minimum).
    if low is None:
        default_low: int = params["min_lines"].default
        low = default_low if high is None else min(default_low, high)
    if high is None:
        default_high: int = params["max_lines"].default
        high = max(default_high, low)
    sampler = SeedSampler(s.seeds.source, unit=s.seeds.unit, min_lines=low, max_lines=high)
    try:
        sampler.sample(s.seeds.first)
    except SeedError as exc:
        where = s.seeds.source or "the standard library"
        raise SeedError(
            f"{exc} (seed source: {where}; --seed-unit, --seed-min-lines and --seed-max-lines "
            "choose what a seed is)"
        ) from exc
    return sampler


def seen_problems(out: Path) -> set[str]:
    """Ids of the problems already stored in ``out`` (a resumed run does not repeat them)."""
    return {p.id for chain in read_chains(out) for p in chain.problems}


def jobs(sampler: SeedSampler, s: GenerateSettings) -> Iterator[Job]:
    """Jobs for seed numbers first, first+1, ... without end (the runner stops early): every
    environment and mode of each seed."""
    for number in itertools.count(s.seeds.first):
        seed = sampler.sample(number)
        for env in s.envs:
            for mode in s.modes:
                yield Job(seed=seed, env=env, mode=mode)


class _Runner(Protocol):
    """What the local Runner and the RayRunner both offer to the run loop."""

    @property
    def result(self) -> RunResult: ...

    @property
    def in_flight(self) -> int: ...

    @property
    def stopping(self) -> bool: ...

    def stop(self) -> None: ...

    async def run(self, jobs: Iterator[Job], *, chains: int) -> RunResult: ...


async def run_with_signals(
    runner: _Runner,
    progress: Progress,
    sampler: SeedSampler,
    s: GenerateSettings,
    target: int,
    *,
    restarts: Sequence[int] | None = None,
) -> RunResult:
    """Run to completion; the first Ctrl-C/SIGTERM finishes the chains in flight, the second
    abandons them. ``restarts`` (the Ray runner's per-shard actor restarts) is shown in the
    progress line when any happened."""
    async with anyio.create_task_group() as tg:
        tg.start_soon(stop_on_signals, runner, progress, tg.cancel_scope)
        if restarts is not None:
            tg.start_soon(_show_restarts, restarts, runner, progress)
        if not s.quiet:
            tg.start_soon(lambda: progress.display(interval_s=s.progress_interval_s))
        await runner.run(jobs(sampler, s), chains=target)
        tg.cancel_scope.cancel()
    return runner.result


async def _show_restarts(restarts: Sequence[int], runner: _Runner, progress: Progress) -> None:
    while True:
        await anyio.sleep(1)
        if sum(restarts) and not runner.stopping:
            progress.note = f"actor restarts {sum(restarts)}"


def say(text: str) -> None:
    """One line from ``stepstones generate`` on stderr."""
    sys.stderr.write(f"stepstones generate: {text}\n")
    sys.stderr.flush()
