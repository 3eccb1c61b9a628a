"""``await stepstones.generate_chain(seed)``: one chain with everything defaulted sensibly.

Teacher and student come from arguments, else from the environment
(``STEPSTONES_TEACHER_BASE_URL`` ... see :meth:`stepstones.llm.Endpoint.from_env`), else from
the embedded local teacher and student (:func:`stepstones.llm._local.local_pair`: the 1.5B
in both roles), with the small :data:`LOCAL_CONFIG` unless a config is given. The config
comes from the argument, else ``$STEPSTONES_CONFIG``, else the paper's defaults.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import NamedTuple

from stepstones import envs
from stepstones.envs import BaseEnvironment, Environment
from stepstones.errors import SeedError
from stepstones.llm import ChatBackend, Client, Endpoint, check_endpoint, resolve_endpoint
from stepstones.pipeline._chain import run_chain
from stepstones.pipeline._config import CONFIG_ENV, Config, SamplingConfig, load_config
from stepstones.pipeline._turn import TurnContext
from stepstones.records import Chain, Env, Mode, Seed, content_hash
from stepstones.sandbox import Sandbox, shared_sandbox

__all__ = ["LOCAL_CONFIG", "Backends", "as_seed", "generate_chain", "open_backends"]

log = logging.getLogger("stepstones.pipeline")

#: Settings used with the embedded models on a CPU when no config is given: small enough that
#: a three-chain demo finishes in minutes on 2 quiet cores (M=4, 3 turns, short replies). A
#: request waits for the one server of its role, behind the other chains' requests, so its
#: deadline is long: on a busy machine a turn is slow, not lost.
LOCAL_CONFIG = Config(
    samples=4,
    max_turns=3,
    teacher_sampling=SamplingConfig(temperature=0.7, max_tokens=512),
    student_sampling=SamplingConfig(temperature=0.8, max_tokens=256),
    chat_timeout_s=1800.0,
)


def as_seed(seed: Seed | str) -> Seed:
    """A Seed as given, or one made from a plain string of code (id = hash of the text)."""
    if isinstance(seed, Seed):
        return seed
    if not isinstance(seed, str):
        raise TypeError(f"seed must be a Seed or a string of code, got {type(seed).__name__}")
    if not seed.strip():
        raise SeedError("seed is empty: give a Seed or a non-empty string of code")
    lines = seed.count("\n") + (0 if seed.endswith("\n") else 1)
    return Seed(id=content_hash(seed), text=seed, source="<string>", start_line=1, end_line=lines)


class Backends(NamedTuple):
    """The teacher and student of a run, and how they were chosen (for logs and manifests)."""

    teacher: ChatBackend
    student: ChatBackend
    teacher_name: str
    student_name: str
    local: bool  # True when the embedded local model plays both roles


def _name(backend: Endpoint | ChatBackend) -> str:
    if isinstance(backend, Endpoint):
        return f"{backend.model} @ {backend.base_url}"
    return type(backend).__name__


async def _check(
    teacher: Endpoint | ChatBackend | None, student: Endpoint | ChatBackend | None
) -> None:
    """Check the explicit Endpoints among teacher and student, each distinct one once."""
    if isinstance(teacher, Endpoint):
        await check_endpoint(teacher, role="teacher")
    if isinstance(student, Endpoint) and student != teacher:
        await check_endpoint(student, role="student")


@asynccontextmanager
async def open_backends(
    teacher: Endpoint | ChatBackend | None = None,
    student: Endpoint | ChatBackend | None = None,
    *,
    endpoints_file: str | os.PathLike[str] | None = None,
) -> AsyncIterator[Backends]:
    """Open clients for the teacher and student; start the local model if none is configured.

    An unset role takes the other's endpoint (the paper used one model for both, at different
    reasoning efforts); if neither is given nor configured, the local model plays both.

    Each Endpoint given or configured is checked first (:func:`stepstones.llm.check_endpoint`,
    one ``GET /models``): no server at the URL, a refused key or a model the server does not
    serve raises one clear error instead of a run whose every turn is rejected. The embedded
    local model and ChatBackend objects are not checked.
    """
    async with AsyncExitStack() as stack:
        if teacher is None:
            teacher = resolve_endpoint("teacher", endpoints_file)
        if student is None:
            student = resolve_endpoint("student", endpoints_file)
        local = teacher is None and student is None
        if local:
            from stepstones.llm._local import local_pair  # noqa: PLC0415 - optional extra

            log.info(
                "no teacher or student endpoint configured: starting the embedded local models "
                "(llama.cpp); set STEPSTONES_BASE_URL and STEPSTONES_MODEL to use a server"
            )
            teacher, student = await stack.enter_async_context(local_pair())
        else:
            await _check(teacher, student)
        teacher = teacher if teacher is not None else student
        student = student if student is not None else teacher
        assert teacher is not None and student is not None
        clients: dict[int, ChatBackend] = {}

        async def client(backend: Endpoint | ChatBackend) -> ChatBackend:
            if not isinstance(backend, Endpoint):
                return backend
            if id(backend) not in clients:  # one client (one limiter) per endpoint
                clients[id(backend)] = await stack.enter_async_context(Client(backend))
            return clients[id(backend)]

        yield Backends(
            teacher=await client(teacher),
            student=await client(student),
            teacher_name=_name(teacher),
            student_name=_name(student),
            local=local,
        )


async def generate_chain(
    seed: Seed | str,
    *,
    env: Env | BaseEnvironment | Environment = "induction",
    mode: Mode = "adaptive",
    config: Config | None = None,
    teacher: Endpoint | ChatBackend | None = None,
    student: Endpoint | ChatBackend | None = None,
    sandbox: Sandbox | None = None,
) -> Chain:
    """Grow one chain of stepping stones from a seed (docs/design.md §2).

    seed: a Seed, or a plain string of code.
    env: an environment name ("induction", "abduction", "deduction", "fuzzing") or object.
    mode: "adaptive" (default), "top_down" or "single_turn".
    config: generation settings; default ``$STEPSTONES_CONFIG`` or the paper's values (or
        :data:`LOCAL_CONFIG` when the embedded model is used).
    teacher / student: an Endpoint or any ChatBackend; default from the environment, else the
        embedded local model.
    sandbox: default the process-wide :func:`stepstones.sandbox.shared_sandbox`.

    Failed requests and invalid drafts are recorded as turns with a Rejection; only a failure
    of the machinery (the sandbox, the local model's start) raises, and, before the chain
    starts, an endpoint with no server behind it, a refused key or an unserved model name.
    """
    the_seed = as_seed(seed)
    environment = envs.get(env) if isinstance(env, str) else env
    async with open_backends(teacher, student) as backends:
        if config is None:
            use_local = backends.local and not os.environ.get(CONFIG_ENV)
            config = LOCAL_CONFIG if use_local else load_config()
        ctx = TurnContext(
            env=environment,
            teacher=backends.teacher,
            student=backends.student,
            sandbox=sandbox if sandbox is not None else shared_sandbox(),
            config=config,
        )
        return await run_chain(ctx, the_seed, mode)
