"""Many chains at once: bounded, back-pressured, resumable and cleanly stoppable.

One producer walks the jobs (seed, environment, mode), skips those whose chain is already
stored, and hands the rest to a fixed set of workers over a bounded memory stream, so it never
runs ahead of them. Requests in flight per endpoint are bounded by each client's capacity
limiter, sandbox work by one shared limiter (``TurnContext.sandbox_slots``), chains in flight
by the number of workers. :meth:`Runner.stop` finishes the chains in flight and starts no new
one; cancelling the surrounding scope abandons them (nothing half-written reaches the store).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, Callable, Iterable
from dataclasses import dataclass

import anyio
from anyio.abc import ObjectReceiveStream, ObjectSendStream

from stepstones.errors import ConfigError, StepstonesError
from stepstones.pipeline._chain import chain_id, run_chain
from stepstones.pipeline._store import RunStore
from stepstones.pipeline._turn import TurnContext
from stepstones.records import Chain, Env, Mode, Seed

__all__ = ["Job", "RunResult", "Runner"]

log = logging.getLogger("stepstones.pipeline")


@dataclass(frozen=True, slots=True)
class Job:
    """One chain to grow."""

    seed: Seed
    env: Env
    mode: Mode


@dataclass(slots=True)
class RunResult:
    """What a run did: chains stored now, chains found already stored, chains that failed."""

    stored: int = 0
    skipped: int = 0
    failed: int = 0
    stopped: bool = False  # stop() was called before the target was reached

    @property
    def exit_status(self) -> int:
        """The CLI's exit status: 130 when stopped by a signal, 1 when chains failed and none
        was stored, else 0."""
        if self.stopped:
            return 130
        return 1 if self.failed and not self.stored else 0


class Runner:
    """Grows chains for many jobs with bounded concurrency into an optional store.

    contexts: one TurnContext per environment used (they should share the sandbox limiter and
        the ``seen_problems`` set so limits and deduplication are run-wide).
    chains_in_flight: chains grown at the same time (workers).
    on_chain / on_error: told about each stored chain and each chain that failed with a
        machinery error (the chain is not stored, so a resumed run retries it).
    """

    def __init__(
        self,
        contexts: dict[Env, TurnContext],
        *,
        store: RunStore | None = None,
        chains_in_flight: int = 8,
        on_chain: Callable[[Chain], None] | None = None,
        on_error: Callable[[Job, Exception], None] | None = None,
    ) -> None:
        if chains_in_flight < 1:
            raise ConfigError(f"chains_in_flight must be >= 1, got {chains_in_flight}")
        self._contexts = contexts
        self._store = store
        self._workers = chains_in_flight
        self._on_chain = on_chain
        self._on_error = on_error
        self._stopping = False
        self._changed = anyio.Event()
        self._in_flight = 0
        self._handed: set[str] = set()
        self.result = RunResult()

    @property
    def in_flight(self) -> int:
        """Chains being grown right now."""
        return self._in_flight

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called."""
        return self._stopping

    def stop(self) -> None:
        """Start no new chain; those in flight finish and are stored."""
        self._stopping = True
        self.result.stopped = True
        self._changed.set()

    async def run(self, jobs: Iterable[Job] | AsyncIterable[Job], *, chains: int) -> RunResult:
        """Grow chains for ``jobs`` until ``chains`` are stored in total (counting those the
        store already held), the jobs run out, or :meth:`stop` is called."""
        send, receive = anyio.create_memory_object_stream[Job](max_buffer_size=0)
        async with anyio.create_task_group() as tg:
            for _ in range(self._workers):
                tg.start_soon(self._work, receive.clone())
            receive.close()
            await self._produce(jobs, send, chains)
        return self.result

    async def _produce(
        self, jobs: Iterable[Job] | AsyncIterable[Job], send: ObjectSendStream[Job], target: int
    ) -> None:
        async with send:
            async for job in _aiter(jobs):
                if self.stopping or self._done() >= target:
                    break
                ctx = self._contexts.get(job.env)
                if ctx is None:
                    raise ConfigError(f"no context for environment {job.env!r}")
                cid = chain_id(job.seed, job.env, job.mode, ctx.config)
                if self._store is not None and cid in self._store:
                    self.result.skipped += 1
                    continue
                if cid in self._handed:  # the same job twice in the input
                    continue
                # Backpressure: hand out only as many jobs as could still be needed.
                while self._done() + self._in_flight >= target:
                    if self._wait_ends_production() or self._done() >= target:
                        return
                    await self._wait_change()
                if self._wait_ends_production():
                    break
                self._in_flight += 1
                self._handed.add(cid)
                await send.send(job)

    def _wait_ends_production(self) -> bool:
        # A method, not the attribute: stop() may flip it while the producer waits.
        return self._stopping

    def _done(self) -> int:
        return len(self._store) if self._store is not None else self.result.stored

    async def _wait_change(self) -> None:
        await self._changed.wait()
        self._changed = anyio.Event()

    async def _work(self, receive: ObjectReceiveStream[Job]) -> None:
        async with receive:
            async for job in receive:
                try:
                    if not self._stopping:
                        await self._grow(job)
                finally:
                    self._in_flight -= 1
                    self._changed.set()

    async def _grow(self, job: Job) -> None:
        ctx = self._contexts[job.env]
        try:
            chain = await run_chain(ctx, job.seed, job.mode)
        except StepstonesError as exc:
            self.result.failed += 1
            log.error("chain for seed %s (%s, %s) failed: %s", job.seed.id, job.env, job.mode, exc)
            if self._on_error is not None:
                self._on_error(job, exc)
            return
        if self._store is not None and not await self._store.append(chain):
            return
        self.result.stored += 1
        if self._on_chain is not None:
            self._on_chain(chain)


async def _aiter(jobs: Iterable[Job] | AsyncIterable[Job]) -> AsyncIterable[Job]:
    if isinstance(jobs, AsyncIterable):
        async for job in jobs:
            yield job
    else:
        for job in jobs:
            yield job
            await anyio.lowlevel.checkpoint()
