"""No problem twice across actors: the driver's problem ledger, alone and in a Ray run.

The Ray tests use the local two-node cluster of conftest.py and a scripted teacher (a protocol
fixture on loopback) that writes one and the same problem for every request, whatever the seed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _distributed_play import CONFIG, Play, seeds, worker_spec

from stepstones.distributed import RayRunner, shard_of
from stepstones.distributed._ledger import STORED, ProblemLedger
from stepstones.pipeline import Job, Manifest, RunStore, chain_id, read_chains
from stepstones.records import Chain, Seed
from stepstones.testing import Reply, ScriptedLLMServer

pytestmark = pytest.mark.timeout(240)


@pytest.mark.anyio
async def test_ledger_grants_each_problem_once_and_takes_back_unstored_claims() -> None:
    ledger = ProblemLedger(taken=["stored"])
    assert not await ledger.claim("stored", "c1")  # a resumed run's problem stays taken
    assert await ledger.claim("p1", "c1")
    assert not await ledger.claim("p1", "c2")
    assert not await ledger.claim("p1", "c1")  # repeated within its own chain: a duplicate too
    await ledger.release("p1", "c2")  # not c2's to give back
    assert not await ledger.claim("p1", "c2")
    await ledger.release("p1", "c1")  # valid but unmeasured: free again
    assert await ledger.claim("p1", "c2")
    assert await ledger.claim("p2", "c2")
    assert await ledger.release_chain("c2") == 2  # c2's actor died: its claims go back
    assert await ledger.release_chain("c2") == 0
    assert await ledger.claim("p1", "c3") and await ledger.claim("p2", "c3")
    await ledger.release("stored", STORED)
    assert await ledger.release_chain(STORED) == 0
    assert not await ledger.claim("stored", "c3")


def one_seed_per_shard(shards: int) -> list[Seed]:
    found: dict[int, Seed] = {}
    for seed in seeds(50):
        found.setdefault(shard_of(chain_id(seed, "deduction", "adaptive", CONFIG), shards), seed)
    return [found[k] for k in range(shards)]


def problem_ids(run_dir: Path) -> list[str]:
    return [p.id for c in read_chains(run_dir) for p in c.problems]


def kinds(chain: Chain) -> list[str]:
    return [t.rejection.kind if t.rejection else "ok" for t in chain.turns]


@pytest.mark.anyio
async def test_two_actors_given_the_same_problem_store_it_once(
    ray_cluster: Any, tmp_path: Path
) -> None:
    wanted = [Job(seed=s, env="deduction", mode="adaptive") for s in one_seed_per_shard(2)]
    async with ScriptedLLMServer(Play(repeat=True, delay_s=0.1)) as srv:
        with RunStore.open(tmp_path, Manifest(config=CONFIG)) as store:
            runner = RayRunner(worker_spec(srv.base_url), store=store, actors=2, cpus_per_actor=0.5)
            result = await runner.run(wanted, chains=2)
    assert (result.stored, result.failed) == (2, 0)
    assert len(problem_ids(tmp_path)) == 1  # each actor proposed it; the run holds it once
    chains = list(read_chains(tmp_path))
    assert sorted(kinds(c) for c in chains) == [
        ["duplicate", "duplicate"],
        ["ok", "duplicate"],
    ]


@pytest.mark.anyio
async def test_claims_of_a_killed_actor_go_back_to_the_chain_asked_again(
    ray_cluster: Any, tmp_path: Path
) -> None:
    """The actor is killed after claiming the problem and before measuring it; the fresh
    actor that grows the chain again must be granted it, not told it is a duplicate."""
    import ray

    play = Play(repeat=True)
    runner: RayRunner
    killed: list[bool] = []

    def handler(body: dict[str, Any]) -> dict[str, Any] | Reply:
        reply = play(body)
        if int(body.get("n", 1)) > 1 and not killed:  # the first student request: claimed
            killed.append(True)
            ray.kill(runner.actors[0])
            return Reply(body=reply, delay_s=2.0)  # never reaches the dead actor
        return reply

    (seed,) = one_seed_per_shard(1)
    async with ScriptedLLMServer(handler) as srv:
        with RunStore.open(tmp_path, Manifest(config=CONFIG)) as store:
            runner = RayRunner(worker_spec(srv.base_url), store=store, actors=1, cpus_per_actor=0.5)
            result = await runner.run([Job(seed=seed, env="deduction", mode="adaptive")], chains=1)
    assert killed and runner.restarts == [1]
    assert (result.stored, result.failed) == (1, 0)
    (chain,) = read_chains(tmp_path)
    assert kinds(chain) == ["ok", "duplicate"]
    assert len(problem_ids(tmp_path)) == 1
