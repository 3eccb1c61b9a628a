"""Many chains at once: bounded, back-pressured, resumable and cleanly stoppable.

One producer (:class:`~stepstones.pipeline._feed.JobFeed`, shared with the Ray runner) walks
the jobs (seed, environment, mode), skips those whose chain is already stored, and hands the
rest to a fixed set of workers over a bounded memory stream, so it never runs ahead of them.
Requests in flight per endpoint are bounded by each client's capacity limiter, sandbox work by
one shared limiter (``TurnContext.sandbox_slots``), chains in flight by the number of workers.
:meth:`Runner.stop` finishes the chains in flight and starts no new one; cancelling the
surrounding scope abandons them (nothing half-written reaches the store).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, Callable, Iterable

import anyio
from anyio.abc import ObjectSendStream

from stepstones.errors import ConfigError, StepstonesError
from stepstones.pipeline._chain import chain_id, run_chain
from stepstones.pipeline._feed import Job, JobFeed, RunResult
from stepstones.pipeline._store import RunStore
from stepstones.pipeline._turn import TurnContext
from stepstones.records import Chain, Env

__all__ = ["Runner"]

log = logging.getLogger("stepstones.pipeline")


class Runner(JobFeed):
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
        super().__init__(store)
        self._contexts = contexts
        self._workers = chains_in_flight
        self._on_chain = on_chain
        self._on_error = on_error

    async def run(self, jobs: Iterable[Job] | AsyncIterable[Job], *, chains: int) -> RunResult:
        """Grow chains for ``jobs`` until ``chains`` are stored in total (counting those the
        store already held), the jobs run out, or :meth:`stop` is called."""
        send, receive = anyio.create_memory_object_stream[Job](max_buffer_size=0)
        async with anyio.create_task_group() as tg:
            for _ in range(self._workers):
                tg.start_soon(self._work, receive.clone(), self._grow)
            receive.close()
            await self._produce(jobs, send, chains)
        return self.result

    async def _produce(
        self, jobs: Iterable[Job] | AsyncIterable[Job], send: ObjectSendStream[Job], target: int
    ) -> None:
        async def hand(job: Job, _cid: str) -> None:
            await send.send(job)

        async with send:
            await self._feed(jobs, target, self._chain_id, hand)

    def _chain_id(self, job: Job) -> str:
        ctx = self._contexts.get(job.env)
        if ctx is None:
            raise ConfigError(f"no context for environment {job.env!r}")
        return chain_id(job.seed, job.env, job.mode, ctx.config)

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
        if await self._keep(chain) and self._on_chain is not None:
            self._on_chain(chain)
