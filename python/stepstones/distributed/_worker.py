"""What one generation actor does: grow chains with its own event loop, sandbox and limits.

The class is plain Python (wrapped with ``ray.remote`` by the driver), so it is also usable
and testable without Ray. Jobs arrive as JSON bytes and finished chains leave as versioned
record bytes (``records.encode_json``): the actor never writes the store, only the driver does.
"""

from __future__ import annotations

import dataclasses
from contextlib import AsyncExitStack
from typing import Any

import anyio
import msgspec

from stepstones import envs
from stepstones.distributed._keys import check_key_env, with_key_from
from stepstones.distributed._ledger import ChainClaims
from stepstones.errors import ConfigError, SandboxClosedError
from stepstones.llm import Client, Endpoint
from stepstones.pipeline import Config, Job, TurnContext, chain_id, run_chain
from stepstones.records import Chain, Env, Mode, Seed, decode_json, encode_json
from stepstones.sandbox import Limits, Sandbox

__all__ = ["GenerationWorker", "WorkerSpec", "decode_job", "encode_job"]


class WorkerSpec(msgspec.Struct, frozen=True, kw_only=True):
    """Everything an actor needs to grow chains; sent once, when the actor starts (pickled
    into Ray's object store).

    teacher / student: endpoints reachable from every node (not loopback of the driver's host
        unless the cluster is that one host).
    teacher_key_env / student_key_env: the name of the environment variable that holds the
        endpoint's API key on every node; the actor reads the key there, and the endpoint's own
        ``api_key`` is dropped from the spec, so the key never travels (``stepstones generate
        --ray`` sets these for keys it read from the environment). Without a name, a key given
        in the endpoint is sent to the actors as it is, inside the pickled spec: it stays out of
        ``repr`` and logs, but Ray's object store holds it while the actors start.
    sandbox_workers: zygotes of the actor's sandbox (default: the CPUs Ray gave the actor).
    sandbox_slots: sandbox jobs in flight in the actor (validation and grading).
    seen_problems: ids of problems already stored, so a resumed run does not repeat them.
    """

    teacher: Endpoint
    student: Endpoint
    config: Config
    envs: tuple[Env, ...]
    sandbox_workers: int | None = None
    sandbox_slots: int = 4
    allow_weaker: bool = False
    limits: Limits | None = None
    seen_problems: frozenset[str] = frozenset()
    teacher_key_env: str | None = None
    student_key_env: str | None = None

    def __post_init__(self) -> None:
        for role, endpoint, name in (
            ("teacher", self.teacher, self.teacher_key_env),
            ("student", self.student, self.student_key_env),
        ):
            check_key_env(name, role)
            if name is not None and endpoint.api_key is not None:
                # The name is what travels; the key is read again on each node.
                keyless = dataclasses.replace(endpoint, api_key=None)
                msgspec.structs.force_setattr(self, role, keyless)
        if not self.envs:
            raise ConfigError("envs must name at least one environment")
        if self.sandbox_workers is not None and self.sandbox_workers < 1:
            raise ConfigError(f"sandbox_workers must be >= 1, got {self.sandbox_workers}")
        if self.sandbox_slots < 1:
            raise ConfigError(f"sandbox_slots must be >= 1, got {self.sandbox_slots}")

    def endpoints(self) -> tuple[Endpoint, Endpoint]:
        """Teacher and student with their keys, read from this node's environment where the
        spec names a variable (ConfigError when it is not set here)."""
        teacher, student = self.teacher, self.student
        if self.teacher_key_env is not None:
            teacher = with_key_from(teacher, "teacher", self.teacher_key_env)
        if self.student_key_env is not None:
            student = with_key_from(student, "student", self.student_key_env)
        return teacher, student


class _WireJob(msgspec.Struct, frozen=True):
    seed: Seed
    env: Env
    mode: Mode


_job_encoder = msgspec.json.Encoder()
_job_decoder = msgspec.json.Decoder(_WireJob)


def encode_job(job: Job) -> bytes:
    return _job_encoder.encode(_WireJob(job.seed, job.env, job.mode))


def decode_job(data: bytes) -> Job:
    wire = _job_decoder.decode(data)
    return Job(seed=wire.seed, env=wire.env, mode=wire.mode)


class GenerationWorker:
    """Grows chains on request; one instance per Ray actor (``max_concurrency`` > 1 lets many
    chains share the actor's event loop, its LLM clients' limiters and its sandbox).

    ledger: the Ray handle of the run's :class:`~stepstones.distributed._ledger.ProblemLedger`,
        asked before a problem new to this actor is accepted, so no two actors accept the same
        one. None (one worker without Ray): this worker's own set decides alone.
    """

    def __init__(self, spec: WorkerSpec, ledger: Any = None) -> None:
        self._spec = spec
        self._ledger = ledger
        self._sandbox: Sandbox | None = None
        self._stack: AsyncExitStack | None = None
        self._contexts: dict[Env, TurnContext] | None = None
        self._lock: anyio.Lock | None = None
        self._closed = False

    async def ready(self) -> str:
        """Start the sandbox and clients; returns the sandbox's capability report in words.

        Called once by the driver before any job, so that a sandbox that cannot start on this
        node (an isolation layer the kernel lacks) is reported as its own error, not as a
        dead actor.
        """
        await self._open()
        assert self._sandbox is not None
        return str(self._sandbox.capabilities)

    async def grow(self, job: bytes) -> bytes:
        """Grow the chain of one encoded job; returns the encoded Chain."""
        contexts = await self._open()
        the_job = decode_job(job)
        ctx = contexts.get(the_job.env)
        if ctx is None:
            raise ConfigError(f"this actor has no context for environment {the_job.env!r}")
        if self._ledger is not None:
            cid = chain_id(the_job.seed, the_job.env, the_job.mode, self._spec.config)
            ctx = dataclasses.replace(ctx, claims=ChainClaims(self._ledger, cid))
        chain = await run_chain(ctx, the_job.seed, the_job.mode)
        return encode_json(chain)

    async def close(self) -> None:
        """Close the clients and stop the sandbox's zygotes."""
        self._closed = True
        if self._stack is not None:
            stack, self._stack = self._stack, None
            await stack.aclose()
        if self._sandbox is not None:
            sandbox, self._sandbox = self._sandbox, None
            sandbox.close()

    async def _open(self) -> dict[Env, TurnContext]:
        if self._closed:
            raise SandboxClosedError("this generation actor was closed")
        if self._contexts is not None:
            return self._contexts
        if self._lock is None:  # no await since the check above: no other task can race
            self._lock = anyio.Lock()
        async with self._lock:
            if self._contexts is None:
                self._contexts = await self._start()
        return self._contexts

    async def _start(self) -> dict[Env, TurnContext]:
        spec = self._spec
        teacher_endpoint, student_endpoint = spec.endpoints()  # a missing key fails first
        stack = AsyncExitStack()
        try:
            sandbox = Sandbox(
                workers=spec.sandbox_workers,
                limits=spec.limits if spec.limits is not None else Limits(),
                allow_weaker=spec.allow_weaker,
            )
            self._sandbox = sandbox
            teacher = await stack.enter_async_context(Client(teacher_endpoint))
            student = (
                teacher
                if student_endpoint == teacher_endpoint
                else await stack.enter_async_context(Client(student_endpoint))
            )
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack
        slots = anyio.CapacityLimiter(spec.sandbox_slots)
        seen = set(spec.seen_problems)  # shared by this actor's environments, like one runner
        return {
            env: TurnContext(
                env=envs.get(env),
                teacher=teacher,
                student=student,
                sandbox=sandbox,
                config=spec.config,
                sandbox_slots=slots,
                seen_problems=seen,
            )
            for env in spec.envs
        }


def decode_chain(data: bytes) -> Chain:
    """The Chain an actor returned."""
    return decode_json(data, Chain)
