"""``stepstones generate``: grow chains from seeds into a resumable run directory.

With no teacher or student configured it starts the embedded local model (llama.cpp serving
Qwen2.5-Coder-0.5B-Instruct on loopback) and uses small settings that finish in a few minutes
on 2 CPU cores: 2 chains, M=4 student samples, 3 turns, short replies.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import AsyncExitStack
from pathlib import Path

import anyio

import stepstones
from stepstones.envs import get as get_env
from stepstones.errors import ConfigError
from stepstones.llm import Endpoint
from stepstones.pipeline._chain import MODES
from stepstones.pipeline._config import CONFIG_ENV, Config, load_config
from stepstones.pipeline._feed import Job, RunResult
from stepstones.pipeline._generate import LOCAL_CONFIG, open_backends
from stepstones.pipeline._progress import Progress
from stepstones.pipeline._runner import Runner
from stepstones.pipeline._signals import stop_on_signals
from stepstones.pipeline._store import Manifest, RunStore, read_chains
from stepstones.pipeline._turn import TurnContext
from stepstones.records import ENVIRONMENTS, Env, Mode, Seed
from stepstones.sandbox import Sandbox
from stepstones.seeds import SeedSampler

__all__ = ["add_arguments", "run"]

log = logging.getLogger("stepstones.pipeline")

LOCAL_CHAINS = 2
SERVER_CHAINS = 100


def _choices(text: str, allowed: Sequence[str], what: str) -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    bad = [t for t in items if t not in allowed]
    if bad or not items:
        raise argparse.ArgumentTypeError(
            f"{what} must be a comma-separated list of {', '.join(allowed)}; got {text!r}"
        )
    return list(dict.fromkeys(items))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Grow chains of stepping-stone problems from code seeds: a teacher LLM writes problems, "
        "a student LLM attempts each one M times, the sandbox grades, and the teacher adapts. "
        "With no endpoint configured (STEPSTONES_BASE_URL/STEPSTONES_MODEL, "
        "STEPSTONES_TEACHER_*/STEPSTONES_STUDENT_*, OPENAI_BASE_URL/OPENAI_MODEL, --teacher-url "
        "or --endpoints), the embedded local model plays teacher and student with small "
        f"defaults ({LOCAL_CHAINS} chains, M={LOCAL_CONFIG.samples}, "
        f"{LOCAL_CONFIG.max_turns} turns, short replies) that finish in a few minutes on 2 CPU "
        "cores. Re-running with the same --out resumes: finished chains are kept and skipped."
    )
    parser.add_argument("--out", required=True, type=Path, help="run directory (created/resumed)")
    parser.add_argument(
        "--seeds",
        default=None,
        help="seed source: a directory of source files, or .jsonl/.parquet files with a text "
        "column (default: the standard library sources of this Python)",
    )
    parser.add_argument("--seed-number", type=int, default=0, help="seed of the seed sampler")
    parser.add_argument(
        "--env",
        type=lambda t: _choices(t, ENVIRONMENTS, "--env"),
        default=["induction"],
        help=f"environment(s), comma-separated: {', '.join(ENVIRONMENTS)} (default induction)",
    )
    parser.add_argument(
        "--mode",
        type=lambda t: _choices(t, MODES, "--mode"),
        default=["adaptive"],
        help="mode(s), comma-separated: adaptive (seed -> adapt to the pass rate), top_down "
        "(hard -> medium -> easy), single_turn (independent samples; the yield baseline). "
        "Several modes grow one chain each from the same seeds. Default adaptive.",
    )
    parser.add_argument(
        "--chains",
        type=int,
        default=None,
        help=f"chains the run directory should hold in the end (default {LOCAL_CHAINS} with "
        f"the embedded model, {SERVER_CHAINS} with a server)",
    )
    parser.add_argument("--config", default=None, help="generation settings (TOML)")
    parser.add_argument("--samples", type=int, default=None, help="M, student samples per problem")
    parser.add_argument("--max-turns", type=int, default=None, help="teacher turns per chain")
    parser.add_argument(
        "--endpoints", default=None, help="TOML with [teacher]/[student] base_url, model, ..."
    )
    parser.add_argument("--teacher-url", default=None, help="teacher API root, e.g. .../v1")
    parser.add_argument("--teacher-model", default=None, help="teacher model name")
    parser.add_argument("--student-url", default=None, help="student API root (default teacher)")
    parser.add_argument("--student-model", default=None, help="student model name")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="chains grown at once (default 2 with the embedded model, 64 with a server)",
    )
    parser.add_argument(
        "--max-requests", type=int, default=256, help="requests in flight per endpoint"
    )
    parser.add_argument(
        "--sandbox-workers", type=int, default=None, help="zygotes (default: cores)"
    )
    parser.add_argument(
        "--allow-weaker-sandbox",
        action="store_true",
        help="run even if some isolation layer is unavailable on this kernel",
    )
    parser.add_argument(
        "--progress-interval", type=float, default=10.0, help="seconds between plain progress lines"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress display")
    # --ray ADDRESS runs the same job sharded over Ray actors (stepstones.distributed); Ray
    # itself is imported only when --ray is given.
    from stepstones.distributed import add_ray_arguments  # noqa: PLC0415 - cycle-free, lazy

    add_ray_arguments(parser)


def _endpoint(url: str | None, model: str | None, role: str, max_requests: int) -> Endpoint | None:
    if url is None and model is None:
        return None
    if url is None or model is None:
        raise ConfigError(f"--{role}-url and --{role}-model go together; give both")
    return Endpoint(base_url=url, model=model, max_concurrency=max_requests)


def _config(args: argparse.Namespace, local: bool) -> Config:
    if args.config is not None:
        config = load_config(args.config)
    elif local and not _env_config_set():
        config = LOCAL_CONFIG
    else:
        config = load_config()
    changes = {}
    if args.samples is not None:
        changes["samples"] = args.samples
    if args.max_turns is not None:
        changes["max_turns"] = args.max_turns
    return config.replace(**changes) if changes else config


def _env_config_set() -> bool:
    return bool(os.environ.get(CONFIG_ENV))


def _seeds(sampler: SeedSampler, first: int) -> Iterator[Seed]:
    """Seeds for seed numbers ``first``, +1, ... without end (the runner stops early)."""
    for number in itertools.count(first):
        yield sampler.sample(number)


def _jobs(seeds: Iterator[Seed], envs: Sequence[Env], modes: Sequence[Mode]) -> Iterator[Job]:
    for seed in seeds:
        for env in envs:
            for mode in modes:
                yield Job(seed=seed, env=env, mode=mode)


def run(args: argparse.Namespace) -> int:
    if getattr(args, "ray", None) is not None:
        from stepstones.distributed import run_on_ray  # noqa: PLC0415

        return run_on_ray(args)
    logging.basicConfig(level=logging.WARNING, format="stepstones: %(message)s")
    return anyio.run(_main, args)


async def _main(args: argparse.Namespace) -> int:
    teacher = _endpoint(args.teacher_url, args.teacher_model, "teacher", args.max_requests)
    student = _endpoint(args.student_url, args.student_model, "student", args.max_requests)
    if args.chains is not None and args.chains < 1:
        raise ConfigError(f"--chains must be >= 1, got {args.chains}")
    # Open the seed source first: a bad --seeds fails before any model starts.
    sampler = await anyio.to_thread.run_sync(SeedSampler, args.seeds)
    async with AsyncExitStack() as stack:
        # Start what can fail before the run directory is made, so that a failure leaves
        # nothing behind: the sandbox (a missing isolation layer), then the backends (the
        # endpoint check: no server, a refused key, an unserved model; or the local model).
        sandbox = stack.enter_context(
            Sandbox(workers=args.sandbox_workers, allow_weaker=args.allow_weaker_sandbox)
        )
        backends = await stack.enter_async_context(
            open_backends(teacher, student, endpoints_file=args.endpoints)
        )
        config = _config(args, backends.local)
        target = (
            args.chains
            if args.chains is not None
            else (LOCAL_CHAINS if backends.local else SERVER_CHAINS)
        )
        if target < 1:
            raise ConfigError(f"--chains must be >= 1, got {target}")
        concurrency = args.concurrency or (2 if backends.local else 64)
        store = stack.enter_context(
            RunStore.open(
                args.out,
                Manifest(
                    config=config,
                    modes=tuple(args.mode),
                    envs=tuple(args.env),
                    teacher=backends.teacher_name,
                    student=backends.student_name,
                    seeds=args.seeds or "stdlib",
                    stepstones_version=stepstones.__version__,
                ),
            )
        )
        if backends.local:
            _say(
                f"using the embedded local model as teacher and student ({backends.teacher_name}); "
                f"{target} chains, M={config.samples}, {config.max_turns} turns"
            )
        progress = Progress(config, target=target, already=len(store))
        slots = anyio.CapacityLimiter(max(2, 2 * (args.sandbox_workers or _cores())))
        seen = {p.id for chain in read_chains(args.out) for p in chain.problems}
        contexts = {
            env: TurnContext(
                env=get_env(env),
                teacher=backends.teacher,
                student=backends.student,
                sandbox=sandbox,
                config=config,
                sandbox_slots=slots,
                seen_problems=seen,
                on_turn=progress.on_turn,
            )
            for env in args.env
        }
        runner = Runner(
            contexts,
            store=store,
            chains_in_flight=concurrency,
            on_chain=progress.on_chain,
            on_error=progress.on_error,
        )
        result = await _run_with_signals(runner, progress, sampler, args, target)
    _say(
        f"{len(store)} chains in {args.out} ({result.stored} new, {progress.already} already "
        f"there, {result.failed} failed); see `stepstones stats {args.out}`"
    )
    return result.exit_status


async def _run_with_signals(
    runner: Runner,
    progress: Progress,
    sampler: SeedSampler,
    args: argparse.Namespace,
    target: int,
) -> RunResult:
    """Run to completion; first Ctrl-C/SIGTERM finishes the chains in flight, second abandons."""
    seeds = _seeds(sampler, args.seed_number)
    async with anyio.create_task_group() as tg:
        tg.start_soon(stop_on_signals, runner, progress, tg.cancel_scope)
        if not args.quiet:
            tg.start_soon(lambda: progress.display(interval_s=args.progress_interval))
        await runner.run(_jobs(seeds, args.env, args.mode), chains=target)
        tg.cancel_scope.cancel()
    return runner.result


def _cores() -> int:
    return len(os.sched_getaffinity(0))


def _say(text: str) -> None:
    sys.stderr.write(f"stepstones generate: {text}\n")
    sys.stderr.flush()
