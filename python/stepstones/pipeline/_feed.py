"""Handing out jobs: the producer loop both runners share (local :class:`Runner` and Ray's
:class:`~stepstones.distributed.RayRunner`).

The producer walks the jobs (an iterable or an async iterable), skips those whose chain is
already stored or already handed out, and hands out only as many as could still be needed:
chains stored + chains in flight never exceed the target, so it never runs ahead of the workers
and a run that reaches its target has started no chain it does not need. :meth:`JobFeed.stop`
ends production; the chains in flight finish and are stored. Where a job goes (one stream of
workers, or the stream of its shard's actor) and how a chain is grown is the runner's part.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from dataclasses import dataclass

import anyio
from anyio.abc import ObjectReceiveStream

from stepstones.pipeline._store import RunStore
from stepstones.records import Chain, Env, Mode, Seed

__all__ = ["Job", "JobFeed", "RunResult"]


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


class JobFeed:
    """The producer side of a run and its counts: a runner subclasses it, hands jobs out with
    :meth:`_feed`, grows them in :meth:`_work` loops and stores chains with :meth:`_keep`."""

    def __init__(self, store: RunStore | None) -> None:
        self._store = store
        self._stopping = False
        self._changed: anyio.Event | None = None  # set when a chain ends or stop() is called
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
        if self._changed is not None:
            self._changed.set()

    async def _feed(
        self,
        jobs: Iterable[Job] | AsyncIterable[Job],
        target: int,
        chain_id: Callable[[Job], str],
        send: Callable[[Job, str], Awaitable[None]],
    ) -> None:
        """Hand ``jobs`` to ``send`` (with their chain id) until ``target`` chains are stored,
        the jobs run out or :meth:`stop` is called. ``chain_id`` raises ConfigError for a job
        the runner cannot grow."""
        self._changed = anyio.Event()
        async for job in _aiter(jobs):
            if self._stopping or self._done() >= target:
                break
            cid = chain_id(job)
            if self._store is not None and cid in self._store:
                self.result.skipped += 1
                continue
            if cid in self._handed:  # the same job twice in the input
                continue
            # Backpressure: hand out only as many jobs as could still be needed.
            while self._done() + self._in_flight >= target:
                if self._production_ends() or self._done() >= target:
                    return
                await self._wait_change()
            if self._production_ends():
                break
            self._in_flight += 1
            self._handed.add(cid)
            await send(job, cid)

    def _production_ends(self) -> bool:
        # A method, not the attribute: stop() may flip it while the producer waits.
        return self._stopping

    def _done(self) -> int:
        return len(self._store) if self._store is not None else self.result.stored

    async def _wait_change(self) -> None:
        assert self._changed is not None
        await self._changed.wait()
        self._changed = anyio.Event()

    async def _work(
        self, receive: ObjectReceiveStream[Job], grow: Callable[[Job], Awaitable[None]]
    ) -> None:
        """One worker: grow each job it receives (none once stopping), then count it done."""
        async with receive:
            async for job in receive:
                try:
                    if not self._stopping:
                        await grow(job)
                finally:
                    self._in_flight -= 1
                    assert self._changed is not None
                    self._changed.set()

    async def _keep(self, chain: Chain) -> bool:
        """Store a finished chain and count it; False if the store already held its id."""
        if self._store is not None and not await self._store.append(chain):
            return False
        self.result.stored += 1
        return True


async def _aiter(jobs: Iterable[Job] | AsyncIterable[Job]) -> AsyncIterable[Job]:
    if isinstance(jobs, AsyncIterable):
        async for job in jobs:
            yield job
    else:
        for job in jobs:
            yield job
            await anyio.lowlevel.checkpoint()
