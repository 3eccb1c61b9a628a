"""A run grown by the real pipeline (scripted teacher and student on loopback, the real
sandbox and store): the records keep what the report shows, and its yield agrees with
``stepstones stats``."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from _pipeline_play import Play

from stepstones.envs import get
from stepstones.llm import Client, Endpoint
from stepstones.pipeline import (
    Config,
    Job,
    Manifest,
    Runner,
    RunStore,
    TurnContext,
    compute_stats,
)
from stepstones.records import Seed
from stepstones.report import compute, load_run
from stepstones.sandbox import Sandbox
from stepstones.testing import ScriptedLLMServer

CONFIG = Config(samples=4, max_turns=3, chat_timeout_s=30.0)
REFUSAL = "I would rather not write blocks today."  # what Play's "format" step replies


async def _grow(play: Play, sandbox: Sandbox, out: Path) -> None:
    seeds = [
        Seed(id=f"s{i}", text=f"x = {i}\n", source="t.py", start_line=1, end_line=1)
        for i in range(2)
    ]
    jobs = [
        Job(seed=s, env="deduction", mode=m) for s in seeds for m in ("adaptive", "single_turn")
    ]
    async with AsyncExitStack() as stack:
        srv = await stack.enter_async_context(ScriptedLLMServer(play))
        teacher = await stack.enter_async_context(
            Client(Endpoint(base_url=srv.base_url, model="teacher"))
        )
        student = await stack.enter_async_context(
            Client(Endpoint(base_url=srv.base_url, model="student"))
        )
        ctx = TurnContext(
            env=get("deduction"), teacher=teacher, student=student, sandbox=sandbox, config=CONFIG
        )
        manifest = Manifest(config=CONFIG, modes=("adaptive", "single_turn"), envs=("deduction",))
        with RunStore.open(out, manifest) as store:
            await Runner({"deduction": ctx}, store=store, chains_in_flight=1).run(jobs, chains=4)


@pytest.mark.anyio
async def test_a_generated_run_keeps_replies_and_sandbox_time(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    play = Play(teacher=["format", "ok", "ok", "same"], rates=[0.5, 1.0, 0.25, 0.0, 0.75])
    await _grow(play, sandbox, tmp_path)
    run = load_run(tmp_path)
    turns = [t for c in run.chains for t in c.turns]
    assert len(run.chains) == 4 and len(turns) == 4 * CONFIG.max_turns
    # Every teacher reply is kept; sandbox time is recorded where the sandbox ran.
    assert all(t.teacher_reply for t in turns)
    assert all(t.sandbox_s > 0 for t in turns if t.problem is not None)
    assert all(t.sandbox_s == 0 for t in turns if t.rejection and t.rejection.kind == "format")
    data = compute(run)
    examples = {x.kind: x for x in data.rejection_examples}
    assert examples["format"].reply == REFUSAL
    assert examples["duplicate"].reply.startswith("Here you go.")
    # The report's yield and counts are those of `stepstones stats` over the same records.
    stats = {s.mode: s for s in compute_stats(run.chains, run.config).by_mode}
    totals = {r.mode: r for r in data.yields if r.turn is None}
    assert set(totals) == set(stats) == {"adaptive", "single_turn"}
    for mode, s in stats.items():
        assert (totals[mode].viable, totals[mode].calls) == (s.viable, s.turns)
        per_turn = {
            r.turn: (r.viable, r.calls)
            for r in data.yields
            if r.mode == mode and r.turn is not None
        }
        assert per_turn == {t.index: (t.viable, t.turns) for t in s.per_turn}
    rejected = {r.kind: 0 for r in data.rejection_counts}
    for r in data.rejection_counts:
        rejected[r.kind] += r.count
    assert rejected == {k: sum(s.rejections.get(k, 0) for s in stats.values()) for k in rejected}
    teacher = next(r for r in data.costs if r.mode == "all" and r.role == "teacher")
    assert teacher.requests == len(turns)
    assert teacher.prompt_tokens == sum(t.teacher_usage.prompt_tokens for t in turns)
