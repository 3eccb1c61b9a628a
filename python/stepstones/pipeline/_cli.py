"""``stepstones generate``: grow chains from seeds into a resumable run directory.

With no teacher or student configured it starts the embedded local model (llama.cpp serving
Qwen2.5-Coder-0.5B-Instruct on loopback) and uses small settings that finish in a few minutes
on 2 CPU cores: 2 chains, M=4 student samples, 3 turns, short replies.

The options and every config built from them live in :mod:`stepstones._cli._generate`; this
module runs the work on this machine, and ``--ray`` hands the same settings to
:mod:`stepstones.distributed` instead.
"""

from __future__ import annotations

import argparse
import logging
import os
from contextlib import AsyncExitStack

import anyio

from stepstones._cli import _generate as cli
from stepstones.envs import get as get_env
from stepstones.pipeline._generate import open_backends
from stepstones.pipeline._progress import Progress
from stepstones.pipeline._runner import Runner
from stepstones.pipeline._store import RunStore
from stepstones.pipeline._turn import TurnContext
from stepstones.sandbox import Sandbox

__all__ = ["add_arguments", "run"]

log = logging.getLogger("stepstones.pipeline")

add_arguments = cli.add_arguments


def run(args: argparse.Namespace) -> int:
    settings = cli.settings(args)
    logging.basicConfig(level=logging.WARNING, format="stepstones: %(message)s")
    if settings.ray is not None:
        from stepstones.distributed import run_on_ray  # noqa: PLC0415 - Ray only when asked

        return run_on_ray(settings)
    return anyio.run(_main, settings)


async def _main(s: cli.GenerateSettings) -> int:
    # Open the seed source first: a bad --seeds fails before any model starts.
    sampler = await anyio.to_thread.run_sync(cli.open_seeds, s)
    async with AsyncExitStack() as stack:
        # Start what can fail before the run directory is made, so that a failure leaves
        # nothing behind: the sandbox (a missing isolation layer), then the backends (the
        # endpoint check: no server, a refused key, an unserved model; or the local model).
        sandbox = stack.enter_context(
            Sandbox(workers=s.sandbox_workers, allow_weaker=s.allow_weaker)
        )
        backends = await stack.enter_async_context(
            open_backends(s.teacher, s.student, endpoints_file=s.endpoints_file)
        )
        local = backends.local
        config = cli.run_config(s, local_model=local)
        target = cli.target_chains(s, local_model=local)
        manifest = cli.manifest(
            s, config, teacher=backends.teacher_name, student=backends.student_name
        )
        store = stack.enter_context(RunStore.open(s.out, manifest))
        if local:
            cli.say(
                f"using the embedded local models (teacher {backends.teacher_name}, student "
                f"{backends.student_name}); {target} chains, M={config.samples}, "
                f"{config.max_turns} turns"
            )
        progress = Progress(config, target=target, already=len(store))
        slots = anyio.CapacityLimiter(max(2, 2 * (s.sandbox_workers or _cores())))
        seen = cli.seen_problems(s.out)
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
            for env in s.envs
        }
        runner = Runner(
            contexts,
            store=store,
            chains_in_flight=cli.chains_in_flight(s, local_model=local),
            on_chain=progress.on_chain,
            on_error=progress.on_error,
        )
        result = await cli.run_with_signals(runner, progress, sampler, s, target)
    cli.say(
        f"{len(store)} chains in {s.out} ({result.stored} new, {progress.already} already "
        f"there, {result.failed} failed); see `stepstones stats {s.out}`"
    )
    return result.exit_status


def _cores() -> int:
    return len(os.sched_getaffinity(0))
