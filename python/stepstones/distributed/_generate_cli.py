"""``stepstones generate --ray ADDRESS``: the same run, sharded over Ray actors.

:func:`add_ray_arguments` adds the Ray options to ``stepstones generate``'s parser and
:func:`run_on_ray` runs a parsed ``generate`` namespace on the cluster: the same run directory,
manifest, resume guarantees, progress line and exit codes as on one machine.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import math
import sys
from collections.abc import Iterator, Sequence
from contextlib import ExitStack

import anyio

import stepstones
from stepstones.distributed._driver import RayRunner
from stepstones.distributed._keys import key_env_of
from stepstones.distributed._preflight import check_endpoint
from stepstones.distributed._ray import LOCAL, connect, require_ray
from stepstones.distributed._worker import WorkerSpec
from stepstones.errors import ConfigError
from stepstones.llm import Endpoint, resolve_endpoint
from stepstones.pipeline import Config, Job, Manifest, RunResult, RunStore, load_config, read_chains
from stepstones.pipeline._progress import Progress
from stepstones.pipeline._signals import stop_on_signals
from stepstones.records import Env, Mode, Seed
from stepstones.seeds import SeedSampler

__all__ = ["add_ray_arguments", "run_on_ray"]

log = logging.getLogger("stepstones.distributed")

SERVER_CHAINS = 100  # the single-machine default with a server
_NO_ENDPOINT = (
    "--ray needs a teacher endpoint that every node can reach: pass --teacher-url and "
    "--teacher-model (or set STEPSTONES_BASE_URL and STEPSTONES_MODEL); the embedded local "
    "model runs on one machine only"
)


def add_ray_arguments(parser: argparse.ArgumentParser) -> None:
    """The Ray options of ``stepstones generate`` (all optional; without --ray nothing changes)."""
    group = parser.add_argument_group("Ray (needs: pip install 'stepstones[ray]')")
    group.add_argument(
        "--ray",
        metavar="ADDRESS",
        default=None,
        help="grow chains on a Ray cluster: 'auto' (the cluster this node belongs to), an "
        "address such as ray://head:10001 or head:6379, or 'local' (a private one-node "
        "cluster). Only the driver writes --out. API keys are not sent to the actors: each "
        "node reads them from the variable they came from here (e.g. OPENAI_API_KEY, or the "
        "endpoint file's api_key_env), so export it before `ray start` on every node.",
    )
    group.add_argument(
        "--ray-actors", type=int, default=2, help="generation actors (shards), default 2"
    )
    group.add_argument(
        "--ray-cpus-per-actor",
        type=float,
        default=1.0,
        help="CPUs Ray reserves per actor; its sandbox runs that many zygotes unless "
        "--sandbox-workers says otherwise (default 1)",
    )
    group.add_argument(
        "--ray-max-restarts",
        type=int,
        default=3,
        help="fresh actors a shard may get after its actor dies (default 3)",
    )
    group.add_argument(
        "--ray-local-cpus",
        type=int,
        default=None,
        help="CPUs of the private cluster with --ray local (default: all cores)",
    )


def run_on_ray(args: argparse.Namespace) -> int:
    """Run a parsed ``stepstones generate`` namespace that has ``args.ray`` set."""
    logging.basicConfig(level=logging.WARNING, format="stepstones: %(message)s")
    require_ray()
    return anyio.run(_main, args, backend="asyncio")


def _endpoints(args: argparse.Namespace) -> tuple[Endpoint, Endpoint]:
    teacher = _endpoint(args.teacher_url, args.teacher_model, "teacher", args.max_requests)
    student = _endpoint(args.student_url, args.student_model, "student", args.max_requests)
    if teacher is None:
        teacher = resolve_endpoint("teacher", args.endpoints)
    if student is None:
        student = resolve_endpoint("student", args.endpoints)
    teacher = teacher if teacher is not None else student
    student = student if student is not None else teacher
    if teacher is None or student is None:
        raise ConfigError(_NO_ENDPOINT)
    return teacher, student


def _endpoint(url: str | None, model: str | None, role: str, max_requests: int) -> Endpoint | None:
    if url is None and model is None:
        return None
    if url is None or model is None:
        raise ConfigError(f"--{role}-url and --{role}-model go together; give both")
    return Endpoint(base_url=url, model=model, max_concurrency=max_requests)


def _config(args: argparse.Namespace) -> Config:
    config = load_config(args.config) if args.config is not None else load_config()
    changes = {}
    if args.samples is not None:
        changes["samples"] = args.samples
    if args.max_turns is not None:
        changes["max_turns"] = args.max_turns
    return config.replace(**changes) if changes else config


def _jobs(
    sampler: SeedSampler, first: int, envs: Sequence[Env], modes: Sequence[Mode]
) -> Iterator[Job]:
    for number in itertools.count(first):
        seed: Seed = sampler.sample(number)
        for env in envs:
            for mode in modes:
                yield Job(seed=seed, env=env, mode=mode)


async def _main(args: argparse.Namespace) -> int:
    teacher, student = _endpoints(args)
    # Before any actor starts: no server, or a wrong model name, is one sentence, not a run
    # whose every turn is rejected.
    await check_endpoint(teacher, role="teacher")
    if student != teacher:
        await check_endpoint(student, role="student")
    # Open the seed source first: a bad --seeds fails before any actor starts.
    sampler = await anyio.to_thread.run_sync(SeedSampler, args.seeds)
    config = _config(args)
    target = args.chains if args.chains is not None else SERVER_CHAINS
    if target < 1:
        raise ConfigError(f"--chains must be >= 1, got {target}")
    if args.ray_actors < 1:
        raise ConfigError(f"--ray-actors must be >= 1, got {args.ray_actors}")
    total = args.concurrency or 64
    per_actor = max(1, math.ceil(total / args.ray_actors))
    workers = args.sandbox_workers or max(1, math.ceil(args.ray_cpus_per_actor))
    with ExitStack() as stack:
        store = stack.enter_context(
            RunStore.open(
                args.out,
                Manifest(
                    config=config,
                    modes=tuple(args.mode),
                    envs=tuple(args.env),
                    teacher=f"{teacher.model} @ {teacher.base_url}",
                    student=f"{student.model} @ {student.base_url}",
                    seeds=args.seeds or "stdlib",
                    stepstones_version=stepstones.__version__,
                ),
            )
        )
        local = args.ray == LOCAL
        if connect(args.ray, num_cpus=args.ray_local_cpus if local else None):
            stack.callback(require_ray().shutdown)
        spec = WorkerSpec(
            teacher=teacher,
            student=student,
            config=config,
            envs=tuple(args.env),
            sandbox_workers=workers,
            sandbox_slots=max(2, 2 * workers),
            allow_weaker=args.allow_weaker_sandbox,
            seen_problems=frozenset(p.id for c in read_chains(args.out) for p in c.problems),
            teacher_key_env=key_env_of(teacher, "teacher", endpoints_file=args.endpoints),
            student_key_env=key_env_of(student, "student", endpoints_file=args.endpoints),
        )
        progress = Progress(config, target=target, already=len(store))
        runner = RayRunner(
            spec,
            store=store,
            actors=args.ray_actors,
            chains_in_flight=per_actor,
            cpus_per_actor=args.ray_cpus_per_actor,
            max_restarts=args.ray_max_restarts,
            on_chain=progress.on_chain,
            on_turn=progress.on_turn,
            on_error=progress.on_error,
        )
        _say(
            f"on Ray ({args.ray}): {args.ray_actors} actors x {per_actor} chains in flight, "
            f"{workers} sandbox workers each; {target} chains"
        )
        result = await _run_with_signals(runner, progress, sampler, args, target)
        stored = len(store)
    restarts = sum(runner.restarts)
    _say(
        f"{stored} chains in {args.out} ({result.stored} new, {result.skipped} already there, "
        f"{result.failed} failed, {restarts} actor restarts); see `stepstones stats {args.out}`"
    )
    return result.exit_status


async def _run_with_signals(
    runner: RayRunner,
    progress: Progress,
    sampler: SeedSampler,
    args: argparse.Namespace,
    target: int,
) -> RunResult:
    """Run to completion; first Ctrl-C/SIGTERM finishes the chains in flight, second abandons."""
    async with anyio.create_task_group() as tg:

        async def show_restarts() -> None:
            while True:
                await anyio.sleep(1)
                restarts = sum(runner.restarts)
                if restarts and not runner.stopping:
                    progress.note = f"actor restarts {restarts}"

        tg.start_soon(stop_on_signals, runner, progress, tg.cancel_scope)
        tg.start_soon(show_restarts)
        if not args.quiet:
            tg.start_soon(lambda: progress.display(interval_s=args.progress_interval))
        jobs = _jobs(sampler, args.seed_number, args.env, args.mode)
        await runner.run(jobs, chains=target)
        tg.cancel_scope.cancel()
    return runner.result


def _say(text: str) -> None:
    sys.stderr.write(f"stepstones generate: {text}\n")
    sys.stderr.flush()
