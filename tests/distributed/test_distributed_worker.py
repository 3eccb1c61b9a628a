"""The generation actor's logic without Ray: the same class, called in this event loop,
against the scripted server on loopback and the real sandbox."""

from __future__ import annotations

import pytest
from _distributed_play import CONFIG, Play, seeds, worker_spec

from stepstones.distributed import GenerationWorker, shard_of
from stepstones.distributed._worker import decode_chain, decode_job, encode_job
from stepstones.errors import ConfigError, SandboxClosedError
from stepstones.pipeline import Job, chain_id
from stepstones.sandbox._types import REQUIRED_LAYERS
from stepstones.testing import ScriptedLLMServer


def test_job_round_trip() -> None:
    job = Job(seed=seeds(1)[0], env="abduction", mode="top_down")
    assert decode_job(encode_job(job)) == job


def test_shard_is_stable_and_spreads() -> None:
    ids = [chain_id(s, "deduction", "adaptive", CONFIG) for s in seeds(200)]
    shards = [shard_of(i, 4) for i in ids]
    assert shards == [shard_of(i, 4) for i in ids]
    assert all(25 <= shards.count(k) <= 75 for k in range(4)), shards
    assert shard_of("x", 1) == 0
    with pytest.raises(ConfigError, match="shards must be >= 1, got 0"):
        shard_of("x", 0)


def test_spec_rejects_bad_settings() -> None:
    with pytest.raises(ConfigError, match="envs must name at least one"):
        worker_spec("http://127.0.0.1:1/v1", envs=())
    with pytest.raises(ConfigError, match="sandbox_workers must be >= 1, got 0"):
        worker_spec("http://127.0.0.1:1/v1", sandbox_workers=0)


@pytest.mark.anyio
async def test_worker_grows_a_chain_and_closes() -> None:
    play = Play()
    async with ScriptedLLMServer(play) as srv:
        worker = GenerationWorker(worker_spec(srv.base_url))
        report = await worker.ready()
        assert worker._sandbox is not None
        caps = worker._sandbox.capabilities  # the sandbox ready() started (spec: full isolation)
        assert report == str(caps)
        assert caps.isolation == "full" and caps.missing == ()
        assert set(REQUIRED_LAYERS) <= set(caps.active), caps.active
        seed = seeds(1)[0]
        chain = decode_chain(await worker.grow(encode_job(Job(seed, "deduction", "adaptive"))))
        await worker.close()
    assert chain.id == chain_id(seed, "deduction", "adaptive", CONFIG)
    assert len(chain.turns) == CONFIG.max_turns
    assert [p.pass_rate for p in chain.problems] == [0.5, 0.5], [t.rejection for t in chain.turns]
    assert play.teacher_calls == 2 and play.student_calls == 2
    with pytest.raises(SandboxClosedError, match="closed"):
        await worker.grow(encode_job(Job(seed, "deduction", "adaptive")))


@pytest.mark.anyio
async def test_worker_refuses_an_environment_it_was_not_given() -> None:
    async with ScriptedLLMServer(Play()) as srv:
        worker = GenerationWorker(worker_spec(srv.base_url))
        try:
            with pytest.raises(ConfigError, match="no context for environment 'induction'"):
                await worker.grow(encode_job(Job(seeds(1)[0], "induction", "adaptive")))
        finally:
            await worker.close()
