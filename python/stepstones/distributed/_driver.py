"""The driver of a Ray generation run: shard jobs over actors, store what they return.

Only the driver writes the store. Each job goes to the actor of its shard (``shard_of`` the
chain id); each actor grows up to ``chains_in_flight`` chains at once on its own event loop
with its own sandbox and LLM clients, and returns finished chains, which the driver appends
exactly once through :class:`~stepstones.pipeline.RunStore` (it skips ids already stored).
The driver's :class:`~stepstones.distributed._ledger.ProblemLedger` is the run's one record of
the problems taken, so no two actors accept the same problem (as on one machine).
When an actor dies (node lost, OOM, ``ray.kill``), its shard gets a fresh actor and the
chains that were in flight there are asked again: nothing unfinished is lost, nothing is
stored twice. Progress and statistics are fed on the driver from the chains that arrive.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterable, Callable, Iterable
from functools import partial
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectSendStream

from stepstones.distributed._ledger import ProblemLedger, ask_ledger
from stepstones.distributed._ray import require_ray
from stepstones.distributed._shard import shard_of
from stepstones.distributed._worker import GenerationWorker, WorkerSpec, decode_chain, encode_job
from stepstones.errors import ClusterError, ConfigError, StepstonesError
from stepstones.pipeline import Job, RunResult, RunStore, chain_id
from stepstones.pipeline._feed import JobFeed
from stepstones.records import Chain, Turn

__all__ = ["RayRunner"]

log = logging.getLogger("stepstones.distributed")


class RayRunner(JobFeed):
    """Grows chains for many jobs over ``actors`` Ray actors into an optional store.

    spec: what every actor needs (endpoints, config, environments, sandbox settings).
    actors: number of shards, one actor each (spread over the cluster's nodes).
    chains_in_flight: chains each actor grows at once.
    cpus_per_actor: CPUs Ray reserves for each actor (its sandbox uses that many zygotes
        unless ``spec.sandbox_workers`` says otherwise).
    max_restarts: fresh actors a shard may get after deaths before the run gives up
        (ClusterError); each restart re-asks the chains that were in flight on the dead one.
    on_chain / on_turn / on_error: told about each stored chain, each turn of a stored chain,
        and each chain that failed with a machinery error inside an actor (not stored, so a
        resumed run retries it).

    Must run on anyio's asyncio backend (Ray's object refs are asyncio awaitables), in a
    process connected to Ray (:func:`stepstones.distributed.connect`).
    """

    def __init__(
        self,
        spec: WorkerSpec,
        *,
        store: RunStore | None = None,
        actors: int = 2,
        chains_in_flight: int = 8,
        cpus_per_actor: float = 1.0,
        max_restarts: int = 3,
        on_chain: Callable[[Chain], None] | None = None,
        on_turn: Callable[[Turn], None] | None = None,
        on_error: Callable[[Job, Exception], None] | None = None,
    ) -> None:
        if actors < 1:
            raise ConfigError(f"actors must be >= 1, got {actors}")
        if chains_in_flight < 1:
            raise ConfigError(f"chains_in_flight must be >= 1, got {chains_in_flight}")
        if cpus_per_actor < 0:
            raise ConfigError(f"cpus_per_actor must be >= 0, got {cpus_per_actor}")
        if max_restarts < 0:
            raise ConfigError(f"max_restarts must be >= 0, got {max_restarts}")
        super().__init__(store)
        self._spec = spec
        self._shards = actors
        self._per_actor = chains_in_flight
        self._cpus = cpus_per_actor
        self._max_restarts = max_restarts
        self._on_chain = on_chain
        self._on_turn = on_turn
        self._on_error = on_error
        self._handles: list[Any] = []
        self._ledger: Any = None
        self._all_handles: list[Any] = []
        self._locks: list[anyio.Lock] = []
        self.restarts = [0] * actors
        self.capabilities: list[str] = []
        self.ready_at: float | None = None  # time.monotonic() once every actor was ready

    @property
    def actors(self) -> list[Any]:
        """The live actor handle of each shard (a test may ``ray.kill`` one)."""
        return list(self._handles)

    async def run(self, jobs: Iterable[Job] | AsyncIterable[Job], *, chains: int) -> RunResult:
        """Grow chains for ``jobs`` until ``chains`` are stored in total (counting those the
        store already held), the jobs run out, or :meth:`stop` is called."""
        if chains < 1:
            raise ConfigError(f"chains must be >= 1, got {chains}")
        self._locks = [anyio.Lock() for _ in range(self._shards)]
        try:
            self._ledger = self._start_ledger()
            self._handles = [self._spawn() for _ in range(self._shards)]
            await self._wait_ready(self._handles)
            self.ready_at = time.monotonic()
            streams = [
                anyio.create_memory_object_stream[Job](max_buffer_size=self._per_actor)
                for _ in range(self._shards)
            ]
            async with anyio.create_task_group() as tg:
                for shard, (_, receive) in enumerate(streams):
                    for _ in range(self._per_actor):
                        tg.start_soon(self._work, receive.clone(), partial(self._grow, shard))
                    receive.close()
                await self._produce(jobs, [send for send, _ in streams], chains)
            await self._close_actors()
        finally:
            self._kill_all()
        return self.result

    # -- actors ----------------------------------------------------------------------------

    def _start_ledger(self) -> Any:
        """The run's problem ledger, on this (the driver's) node so that it is lost only with
        the driver; it reserves no CPU, so it always fits."""
        ray = require_ray()
        here = ray.util.scheduling_strategies.NodeAffinitySchedulingStrategy(
            node_id=ray.get_runtime_context().get_node_id(), soft=True
        )
        handle = (
            ray.remote(ProblemLedger)
            .options(num_cpus=0, max_restarts=0, scheduling_strategy=here)
            .remote(self._spec.seen_problems)
        )
        self._all_handles.append(handle)
        return handle

    def _spawn(self) -> Any:
        ray = require_ray()
        actor_class = ray.remote(GenerationWorker)
        handle = actor_class.options(
            num_cpus=self._cpus,
            max_restarts=0,  # the driver replaces dead actors itself, re-asking their chains
            max_concurrency=self._per_actor + 2,  # + ready/close calls
            scheduling_strategy="SPREAD",
        ).remote(self._spec, self._ledger)
        self._all_handles.append(handle)
        return handle

    async def _wait_ready(self, handles: list[Any]) -> None:
        ray = require_ray()
        for handle in handles:
            try:
                self.capabilities.append(await handle.ready.remote())
            except ray.exceptions.RayTaskError as exc:
                cause = exc.cause
                if isinstance(cause, StepstonesError):
                    raise cause from exc  # e.g. the sandbox cannot start on that node
                raise ClusterError(f"a generation actor failed to start: {cause!r}") from exc
            except ray.exceptions.RayActorError as exc:
                raise ClusterError(f"a generation actor died while starting: {exc}") from exc

    async def _replace(self, shard: int, dead: Any) -> None:
        """Give ``shard`` a fresh actor unless another task already did."""
        async with self._locks[shard]:
            if self._handles[shard] is not dead:
                return
            self.restarts[shard] += 1
            if self.restarts[shard] > self._max_restarts:
                raise ClusterError(
                    f"the generation actor of shard {shard} died {self.restarts[shard]} times "
                    f"(max_restarts={self._max_restarts}); check the Ray logs of its node "
                    "(`ray logs`) for the cause"
                )
            log.warning(
                "generation actor of shard %d died; starting a fresh one (restart %d of %d)",
                shard,
                self.restarts[shard],
                self._max_restarts,
            )
            _kill(dead)
            fresh = self._spawn()
            await self._wait_ready([fresh])
            self._handles[shard] = fresh

    async def _close_actors(self) -> None:
        ray = require_ray()
        with anyio.move_on_after(30):
            for handle in self._handles:
                try:
                    await handle.close.remote()
                except ray.exceptions.RayError as exc:  # already gone: nothing to close
                    log.debug("closing a generation actor: %s", exc)

    def _kill_all(self) -> None:
        for handle in self._all_handles:
            _kill(handle)
        self._all_handles.clear()

    # -- jobs ------------------------------------------------------------------------------

    async def _produce(
        self,
        jobs: Iterable[Job] | AsyncIterable[Job],
        sends: list[MemoryObjectSendStream[Job]],
        target: int,
    ) -> None:
        async def hand(job: Job, cid: str) -> None:
            await sends[shard_of(cid, self._shards)].send(job)

        try:
            await self._feed(jobs, target, self._chain_id, hand)
        finally:
            for send in sends:
                send.close()

    def _chain_id(self, job: Job) -> str:
        if job.env not in self._spec.envs:
            raise ConfigError(
                f"job for environment {job.env!r}, but the actors only have "
                f"{', '.join(self._spec.envs)}"
            )
        return chain_id(job.seed, job.env, job.mode, self._spec.config)

    async def _grow(self, shard: int, job: Job) -> None:
        ray = require_ray()
        payload = encode_job(job)
        while True:
            handle = self._handles[shard]
            try:
                data: bytes = await handle.grow.remote(payload)
                break
            except ray.exceptions.RayTaskError as exc:
                cause = exc.cause
                if isinstance(cause, ClusterError):  # the ledger is gone: stop, resumable
                    raise cause from exc
                if not isinstance(cause, StepstonesError):
                    raise ClusterError(
                        f"chain for seed {job.seed.id} ({job.env}, {job.mode}) crashed in its "
                        f"actor: {cause!r}"
                    ) from exc
                await self._release(job)  # not stored: a resumed run grows it again
                self.result.failed += 1
                log.error(
                    "chain for seed %s (%s, %s) failed: %s", job.seed.id, job.env, job.mode, cause
                )
                if self._on_error is not None:
                    self._on_error(job, cause)
                return
            except ray.exceptions.RayActorError:
                await self._release(job)  # the chain is asked again, or dropped when stopping
                if self._stopping:
                    return
                await self._replace(shard, handle)
        chain = decode_chain(data)
        if not await self._keep(chain):
            return
        if self._on_turn is not None:
            for turn in chain.turns:
                self._on_turn(turn)
        if self._on_chain is not None:
            self._on_chain(chain)

    async def _release(self, job: Job) -> None:
        """Give back the problems a chain claimed: its result will never be stored."""
        await ask_ledger(self._ledger.release_chain, self._chain_id(job))


def _kill(handle: Any) -> None:
    ray = require_ray()
    try:
        ray.kill(handle, no_restart=True)
    except (ValueError, ray.exceptions.RayError) as exc:  # already dead or never started
        log.debug("killing a generation actor: %s", exc)
