"""``stepstones generate --ray ADDRESS``: the same run, sharded over Ray actors.

:func:`run_on_ray` runs the settings of a ``stepstones generate`` command
(:class:`stepstones._cli._generate.GenerateSettings`, built from the same options as a local
run) on the cluster: the same run directory, manifest, resume guarantees, progress line and
exit codes as on one machine. Only where the work runs differs.
"""

from __future__ import annotations

import logging
import math
from contextlib import ExitStack

import anyio
import msgspec

from stepstones._cli import _generate as cli
from stepstones.distributed._driver import RayRunner
from stepstones.distributed._keys import key_env_of
from stepstones.distributed._preflight import check_endpoint
from stepstones.distributed._ray import LOCAL, connect, require_ray
from stepstones.distributed._worker import WorkerSpec
from stepstones.errors import ConfigError
from stepstones.llm import Endpoint, resolve_endpoint
from stepstones.pipeline import RunStore
from stepstones.pipeline._progress import Progress

__all__ = ["RayPlan", "plan", "run_on_ray"]

log = logging.getLogger("stepstones.distributed")

_NO_ENDPOINT = (
    "--ray needs a teacher endpoint that every node can reach: pass --teacher-url and "
    "--teacher-model (or set STEPSTONES_BASE_URL and STEPSTONES_MODEL); the embedded local "
    "model runs on one machine only"
)


class RayPlan(msgspec.Struct, frozen=True, kw_only=True):
    """What a Ray run starts: the actors' spec and how chains are spread over them."""

    spec: WorkerSpec
    actors: int
    chains_in_flight_per_actor: int
    cpus_per_actor: float
    max_restarts: int
    target: int


def run_on_ray(settings: cli.GenerateSettings) -> int:
    """Run a ``stepstones generate`` whose settings name a Ray cluster (``settings.ray``)."""
    if settings.ray is None:
        raise ConfigError("run_on_ray needs settings with a Ray address (--ray ADDRESS)")
    require_ray()
    return anyio.run(_main, settings, backend="asyncio")


def _endpoints(s: cli.GenerateSettings) -> tuple[Endpoint, Endpoint]:
    teacher = s.teacher or resolve_endpoint("teacher", s.endpoints_file)
    student = s.student or resolve_endpoint("student", s.endpoints_file)
    teacher = teacher if teacher is not None else student
    student = student if student is not None else teacher
    if teacher is None or student is None:
        raise ConfigError(_NO_ENDPOINT)
    return teacher, student


def plan(
    s: cli.GenerateSettings, teacher: Endpoint, student: Endpoint, seen: frozenset[str]
) -> RayPlan:
    """The actors of a run with settings ``s``: the config, target and chains in flight are
    the shared layer's (as on one machine); only their spread over actors is Ray's."""
    assert s.ray is not None
    config = cli.run_config(s, local_model=False)
    per_actor = max(1, math.ceil(cli.chains_in_flight(s, local_model=False) / s.ray.actors))
    workers = s.sandbox_workers or max(1, math.ceil(s.ray.cpus_per_actor))
    spec = WorkerSpec(
        teacher=teacher,
        student=student,
        config=config,
        envs=s.envs,
        sandbox_workers=workers,
        sandbox_slots=max(2, 2 * workers),
        allow_weaker=s.allow_weaker,
        seen_problems=seen,
        teacher_key_env=key_env_of(teacher, "teacher", endpoints_file=s.endpoints_file),
        student_key_env=key_env_of(student, "student", endpoints_file=s.endpoints_file),
    )
    return RayPlan(
        spec=spec,
        actors=s.ray.actors,
        chains_in_flight_per_actor=per_actor,
        cpus_per_actor=s.ray.cpus_per_actor,
        max_restarts=s.ray.max_restarts,
        target=cli.target_chains(s, local_model=False),
    )


async def _main(s: cli.GenerateSettings) -> int:
    assert s.ray is not None
    teacher, student = _endpoints(s)
    # Before any actor starts: no server, or a wrong model name, is one sentence, not a run
    # whose every turn is rejected.
    await check_endpoint(teacher, role="teacher")
    if student != teacher:
        await check_endpoint(student, role="student")
    # Open the seed source first: a bad --seeds fails before any actor starts.
    sampler = await anyio.to_thread.run_sync(cli.open_seeds, s)
    p = plan(s, teacher, student, frozenset())
    with ExitStack() as stack:
        manifest = cli.manifest(
            s,
            p.spec.config,
            teacher=f"{teacher.model} @ {teacher.base_url}",
            student=f"{student.model} @ {student.base_url}",
        )
        store = stack.enter_context(RunStore.open(s.out, manifest))
        p = msgspec.structs.replace(
            p,
            spec=msgspec.structs.replace(p.spec, seen_problems=frozenset(cli.seen_problems(s.out))),
        )
        local = s.ray.address == LOCAL
        if connect(s.ray.address, num_cpus=s.ray.local_cpus if local else None):
            stack.callback(require_ray().shutdown)
        progress = Progress(p.spec.config, target=p.target, already=len(store))
        runner = RayRunner(
            p.spec,
            store=store,
            actors=p.actors,
            chains_in_flight=p.chains_in_flight_per_actor,
            cpus_per_actor=p.cpus_per_actor,
            max_restarts=p.max_restarts,
            on_chain=progress.on_chain,
            on_turn=progress.on_turn,
            on_error=progress.on_error,
        )
        cli.say(
            f"on Ray ({s.ray.address}): {p.actors} actors x {p.chains_in_flight_per_actor} "
            f"chains in flight, {p.spec.sandbox_workers} sandbox workers each; {p.target} chains"
        )
        result = await cli.run_with_signals(
            runner, progress, sampler, s, p.target, restarts=runner.restarts
        )
        stored = len(store)
    cli.say(
        f"{stored} chains in {s.out} ({result.stored} new, {result.skipped} already there, "
        f"{result.failed} failed, {sum(runner.restarts)} actor restarts); "
        f"see `stepstones stats {s.out}`"
    )
    return result.exit_status
