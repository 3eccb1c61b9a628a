"""Generation sharded over Ray actors on a local two-node cluster started by the tests.

The teacher and student are the scripted server on loopback (a protocol fixture); the actors
run the real pipeline with the real sandbox; only this process (the driver) writes the store.
One actor is killed with ``ray.kill`` while it has chains in flight: the run must still end
with every wanted chain stored exactly once, and a resumed run must add only what is missing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import pytest
from _distributed_play import CONFIG, Play, seeds, worker_spec

from stepstones.cli import main
from stepstones.distributed import RayRunner, shard_of
from stepstones.pipeline import Job, Manifest, RunStore, chain_id, read_chains
from stepstones.pipeline._store import CHAINS_FILE
from stepstones.testing import ScriptedLLMServer

pytestmark = pytest.mark.timeout(240)


def jobs(n: int) -> list[Job]:
    return [Job(seed=s, env="deduction", mode="adaptive") for s in seeds(n)]


def stored_ids(run_dir: Path) -> list[str]:
    return [c.id for c in read_chains(run_dir)]


@pytest.mark.anyio
async def test_killed_actor_is_replaced_and_the_store_is_complete_and_duplicate_free(
    ray_cluster: Any, tmp_path: Path
) -> None:
    import ray

    wanted = jobs(8)
    wanted_ids = {chain_id(j.seed, j.env, j.mode, CONFIG) for j in wanted}
    assert {shard_of(i, 2) for i in wanted_ids} == {0, 1}  # both actors get work
    play = Play(delay_s=0.15)  # keeps chains in flight long enough to be cut off
    killed: list[int] = []
    shard_of_seed = {
        f"def g{i}(x)": shard_of(chain_id(j.seed, j.env, j.mode, CONFIG), 2)
        for i, j in enumerate(wanted)
    }

    def on_teacher(body: dict[str, Any]) -> None:
        # Shard 1's actor is waiting for this very reply, so it dies mid-chain (deterministic,
        # unlike killing it when some other chain happens to finish).
        prompt = " ".join(str(m.get("content", "")) for m in body["messages"])
        if not killed and any(shard_of_seed[m] == 1 for m in shard_of_seed if m in prompt):
            killed.append(1)
            ray.kill(runner.actors[1])

    play.on_teacher = on_teacher
    async with ScriptedLLMServer(play) as srv:
        with RunStore.open(tmp_path, Manifest(config=CONFIG)) as store:
            runner = RayRunner(
                worker_spec(srv.base_url),
                store=store,
                actors=2,
                chains_in_flight=2,
                cpus_per_actor=0.5,
            )
            result = await runner.run(wanted, chains=len(wanted))
    assert killed
    assert runner.restarts[killed[0]] == 1 and sum(runner.restarts) == 1
    assert result.stored == 8 and result.failed == 0
    ids = stored_ids(tmp_path)
    assert len(ids) == len(set(ids)) == 8  # nothing lost, nothing twice
    assert set(ids) == wanted_ids
    assert (tmp_path / CHAINS_FILE).read_bytes().count(b"\n") == 8
    # Every stored chain took exactly 2 teacher requests; the killed chain's request is extra.
    assert play.teacher_calls > 2 * 8

    # Resume with more jobs, on one actor: the stored chains are skipped, only the missing ones
    # are grown (resuming does not depend on the actor count).
    async with ScriptedLLMServer(Play()) as srv:
        with RunStore.open(tmp_path, Manifest(config=CONFIG)) as store:
            runner = RayRunner(worker_spec(srv.base_url), store=store, actors=1, cpus_per_actor=0.5)
            result = await runner.run(jobs(11), chains=11)
    assert (result.skipped, result.stored) == (8, 3)
    ids = stored_ids(tmp_path)
    assert len(ids) == len(set(ids)) == 11


def test_generate_cli_on_ray_runs_and_resumes(
    ray_cluster: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_file = tmp_path / "seeds.jsonl"
    body = "\n".join(f"def f{i}(x):\n    y = x * {i}\n    return y + {i}\n" for i in range(40))
    seed_file.write_text(json.dumps({"content": body}) + "\n")
    out = tmp_path / "run"
    with (
        anyio.from_thread.start_blocking_portal("asyncio") as portal,
        portal.wrap_async_context_manager(ScriptedLLMServer(Play())) as srv,
    ):
        common = [
            "--out", str(out), "--seeds", str(seed_file), "--env", "deduction",
            "--teacher-url", srv.base_url, "--teacher-model", "scripted",
            "--samples", "4", "--max-turns", "2", "--quiet",
            "--ray", ray_cluster.address, "--ray-actors", "2",
            "--ray-cpus-per-actor", "0.5", "--sandbox-workers", "1",
        ]  # fmt: skip
        # Through the `stepstones` entry point itself: a regression that unwires --ray from
        # `stepstones generate` fails here (it would grow the chains locally, or not parse).
        assert main(["generate", *common, "--chains", "3"]) == 0
        assert len(stored_ids(out)) == 3
        assert main(["generate", *common, "--chains", "5"]) == 0
    ids = stored_ids(out)
    assert len(ids) == len(set(ids)) == 5
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["opened"] == 2 and manifest["teacher"].startswith("scripted @ http://127.0.0.1")
    err = capsys.readouterr().err
    assert f"on Ray ({ray_cluster.address}): 2 actors" in err
    assert "5 chains in" in err and "(2 new, 3 already there, 0 failed, 0 actor restarts)" in err


@pytest.mark.anyio
async def test_an_actor_that_cannot_start_its_sandbox_reports_why(
    ray_cluster: Any, tmp_path: Path
) -> None:
    """The actor's own error (here: limits its sandbox refuses) reaches the driver as itself,
    not as a dead actor, and nothing is stored."""
    import msgspec

    from stepstones.errors import ConfigError
    from stepstones.sandbox import Limits

    spec = msgspec.structs.replace(
        worker_spec("http://127.0.0.1:9/v1"), limits=Limits(memory_mib=1)
    )
    with RunStore.open(tmp_path, Manifest(config=CONFIG)) as store:
        runner = RayRunner(spec, store=store, actors=1, cpus_per_actor=0.5)
        with pytest.raises(ConfigError, match=r"memory_mib must be >= 16, got 1"):
            await runner.run(jobs(2), chains=2)
    assert stored_ids(tmp_path) == []
