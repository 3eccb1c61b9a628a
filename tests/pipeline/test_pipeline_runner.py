"""The runner: bounded concurrency, resumption through the store, stop and abandon."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import anyio
import pytest
from _pipeline_play import Play

from stepstones.envs import get
from stepstones.llm import ChatBackend, ChatResult, Client, Endpoint, Sampling
from stepstones.pipeline import (
    Config,
    Job,
    Manifest,
    Runner,
    RunResult,
    RunStore,
    TurnContext,
    read_chains,
    read_rejections,
)
from stepstones.records import Message, Seed
from stepstones.sandbox import Sandbox
from stepstones.testing import ScriptedLLMServer

CONFIG = Config(samples=4, max_turns=2, chat_timeout_s=30.0)
DEFAULT_SAMPLING = Sampling()


def seeds(n: int) -> list[Seed]:
    return [
        Seed(id=f"s{i}", text=f"x = {i}\n", source="t.py", start_line=1, end_line=1)
        for i in range(n)
    ]


class Counting:
    """A ChatBackend that forwards to a real client and records requests in flight."""

    def __init__(self, inner: ChatBackend) -> None:
        self.inner = inner
        self.now = 0
        self.peak = 0

    async def chat(
        self, messages: Sequence[Message], sampling: Sampling = DEFAULT_SAMPLING, n: int = 1
    ) -> ChatResult:
        self.now += 1
        self.peak = max(self.peak, self.now)
        try:
            return await self.inner.chat(messages, sampling, n)
        finally:
            self.now -= 1


@asynccontextmanager
async def contexts(
    play: Play, sandbox: Sandbox
) -> AsyncIterator[tuple[dict[str, TurnContext], Counting]]:
    async with AsyncExitStack() as stack:
        srv = await stack.enter_async_context(ScriptedLLMServer(play))
        teacher = await stack.enter_async_context(
            Client(Endpoint(base_url=srv.base_url, model="teacher"))
        )
        student = await stack.enter_async_context(
            Client(Endpoint(base_url=srv.base_url, model="student"))
        )
        counting = Counting(teacher)
        ctx = TurnContext(
            env=get("deduction"),
            teacher=counting,
            student=student,
            sandbox=sandbox,
            config=CONFIG,
        )
        yield {"deduction": ctx}, counting


def jobs(n: int) -> list[Job]:
    return [Job(seed=s, env="deduction", mode="adaptive") for s in seeds(n)]


@pytest.mark.anyio
async def test_runs_resume_and_never_duplicate(sandbox: Sandbox, tmp_path: Path) -> None:
    play = Play(rates=[0.5], student_delay_s=0.05)
    manifest = Manifest(config=CONFIG)
    async with contexts(play, sandbox) as (ctxs, counting):
        with RunStore.open(tmp_path, manifest) as store:
            runner = Runner(ctxs, store=store, chains_in_flight=3)
            result = await runner.run(jobs(10), chains=4)
        assert (result.stored, result.skipped, result.failed) == (4, 0, 0)
        assert counting.peak <= 3
        first = [c.id for c in read_chains(tmp_path)]
        with RunStore.open(tmp_path, manifest) as store:
            runner = Runner(ctxs, store=store, chains_in_flight=3)
            result = await runner.run(jobs(10) + jobs(10), chains=7)
    assert (result.stored, result.skipped) == (3, 4)
    ids = [c.id for c in read_chains(tmp_path)]
    assert ids[:4] == first
    assert len(ids) == len(set(ids)) == 7
    chain_ids = set(ids)
    assert {e.chain_id for e in read_rejections(tmp_path)} <= chain_ids


@pytest.mark.anyio
async def test_stop_finishes_chains_in_flight(sandbox: Sandbox, tmp_path: Path) -> None:
    play = Play(rates=[0.5], student_delay_s=0.2)
    async with contexts(play, sandbox) as (ctxs, _):
        with RunStore.open(tmp_path, Manifest(config=CONFIG)) as store:
            runner = Runner(ctxs, store=store, chains_in_flight=2, on_chain=lambda _: runner.stop())
            result = await runner.run(jobs(20), chains=20)
    assert result.stopped
    stored = list(read_chains(tmp_path))
    # The chain that triggered stop() and the one beside it in flight both finished whole.
    assert 1 <= len(stored) <= 2
    assert all(len(c.turns) == CONFIG.max_turns for c in stored)


@pytest.mark.anyio
async def test_abandon_leaves_only_whole_chains(sandbox: Sandbox, tmp_path: Path) -> None:
    play = Play(rates=[0.5], student_delay_s=0.2)
    async with contexts(play, sandbox) as (ctxs, _):
        with RunStore.open(tmp_path, Manifest(config=CONFIG)) as store:
            runner = Runner(ctxs, store=store, chains_in_flight=4)
            with anyio.move_on_after(1.5):
                await runner.run(jobs(20), chains=20)
    data = (tmp_path / "chains.jsonl").read_bytes()
    assert data == b"" or data.endswith(b"\n")
    stored = list(read_chains(tmp_path))
    assert len(stored) < 20
    assert len({c.id for c in stored}) == len(stored)


@pytest.mark.anyio
async def test_without_a_store_the_target_counts_new_chains(sandbox: Sandbox) -> None:
    play = Play(rates=[1.0])
    got = []
    async with contexts(play, sandbox) as (ctxs, _):
        runner = Runner(ctxs, chains_in_flight=2, on_chain=got.append)
        result = await runner.run(jobs(5), chains=3)
    assert result.stored == len(got) == 3


def test_bad_concurrency_is_a_config_error() -> None:
    from stepstones.errors import ConfigError

    with pytest.raises(ConfigError, match="chains_in_flight must be >= 1"):
        Runner({}, chains_in_flight=0)


@pytest.mark.parametrize(
    ("result", "status"),
    [
        (RunResult(stored=2), 0),
        (RunResult(skipped=3), 0),
        (RunResult(stored=1, failed=1), 0),
        (RunResult(failed=2), 1),
        (RunResult(stored=1, stopped=True), 130),
    ],
)
def test_exit_status(result: RunResult, status: int) -> None:
    assert result.exit_status == status
