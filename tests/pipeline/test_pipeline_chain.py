"""Chains against a scripted OpenAI-compatible server on loopback and the real sandbox.

The server plays teacher and student (see _pipeline_play.py), including malformed replies, 429
with retry-after, 500s, slow replies, dropped connections and fewer choices than n: every
failure must become a recorded turn (Rejection kind "llm"), never a crash.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import msgspec
import pytest
from _pipeline_play import Play

from stepstones.envs import get
from stepstones.llm import Client, Endpoint, RetryPolicy
from stepstones.pipeline import Config, TurnContext, chain_id, generate_chain, run_chain
from stepstones.records import Chain, Seed, decode_json, encode_json
from stepstones.sandbox import Sandbox
from stepstones.testing import Reply, ScriptedLLMServer

SEED = Seed(
    id="s1", text="def add(a, b):\n    return a + b\n", source="t.py", start_line=1, end_line=2
)
# Bands reachable with M=4 (pass rates 0, .25, .5, .75, 1).
CONFIG = Config(
    samples=4,
    max_turns=6,
    bands={"hard": (0.2, 0.3), "medium": (0.45, 0.55), "easy": (0.7, 0.8)},
    chat_timeout_s=30.0,
)
FAST_RETRY = RetryPolicy(max_attempts=2, base_delay_s=0.01, max_delay_s=0.05)


@asynccontextmanager
async def context(
    play: Play, sandbox: Sandbox, config: Config = CONFIG, timeout_s: float = 5.0
) -> AsyncIterator[TurnContext]:
    async with AsyncExitStack() as stack:
        srv = await stack.enter_async_context(ScriptedLLMServer(play))
        clients = [
            await stack.enter_async_context(
                Client(
                    Endpoint(base_url=srv.base_url, model=role, timeout_s=timeout_s),
                    retry=FAST_RETRY,
                )
            )
            for role in ("teacher", "student")
        ]
        yield TurnContext(
            env=get("deduction"),
            teacher=clients[0],
            student=clients[1],
            sandbox=sandbox,
            config=config,
        )
        assert not srv.errors, srv.errors


def check_records(chain: Chain) -> None:
    """Every turn is consistent and the chain survives the versioned codec unchanged."""
    assert decode_json(encode_json(chain), Chain) == chain
    for i, turn in enumerate(chain.turns):
        assert turn.index == i
        assert (turn.problem is None) != (turn.rejection is None)
        if turn.problem is not None:
            assert turn.summary is not None
            assert turn.problem.pass_rate == turn.summary.pass_rate
            assert len(turn.attempts) == len(turn.grades) == turn.summary.n_attempts
            assert turn.problem.seed_id == chain.seed.id


@pytest.mark.anyio
async def test_adaptive_chain_follows_the_pass_rate(sandbox: Sandbox) -> None:
    play = Play(rates=[1.0, 0.0, 0.5, 0.25, 0.75])
    async with context(play, sandbox) as ctx:
        chain = await run_chain(ctx, SEED, "adaptive")
    check_records(chain)
    assert chain.id == chain_id(SEED, "deduction", "adaptive", CONFIG)
    rates = [t.problem.pass_rate for t in chain.turns if t.problem]
    assert rates == [1.0, 0.0, 0.5, 0.25, 0.75]
    # p=1 -> harder; p=0 -> easier; 0.5 with hard and easy missing (equally near) -> harder;
    # 0.25 with easy missing -> easier; then every band is covered and the chain stops early.
    assert [t.instruction for t in chain.turns] == ["seed", "harder", "easier", "harder", "easier"]
    problems = chain.problems
    assert problems[0].parent_id is None
    assert [p.parent_id for p in problems[1:]] == [p.id for p in problems[:-1]]
    assert all(t.teacher_usage.requests >= 1 for t in chain.turns)
    assert all(t.student_usage.completion_tokens > 0 for t in chain.turns)
    assert chain.turns[0].draft is not None
    assert chain.turns[0].draft.reasoning == "thinking about it"
    # The mutate prompt carried the summary of the previous attempt.
    assert "pass rate 1.00" in play.teacher_prompts[1]
    assert "Solved attempt 1" in play.teacher_prompts[1]


@pytest.mark.anyio
async def test_llm_failures_are_recorded_turns(sandbox: Sandbox) -> None:
    play = Play(
        teacher=[
            Reply(status=500, body={"error": {"message": "boom"}}),
            Reply(status=500, body={"error": {"message": "boom again"}}),  # retries run out
            Reply(body="{not json"),  # malformed body
            Reply(drop=True),
            Reply(drop=True),  # dropped twice: retries run out
            Reply(body=None, delay_s=3.0),  # slower than the 1 s endpoint timeout
            Reply(status=429, headers={"retry-after": "0"}),  # retried: the next reply is good
            "ok",
            "format",
        ],
        rates=[0.5],
    )
    async with context(play, sandbox, CONFIG.replace(max_turns=6), timeout_s=1.0) as ctx:
        chain = await run_chain(ctx, SEED, "adaptive")
    check_records(chain)
    kinds = [t.rejection.kind if t.rejection else "ok" for t in chain.turns]
    assert kinds == ["llm", "llm", "llm", "llm", "ok", "format"]
    reasons = [t.rejection.reason for t in chain.turns if t.rejection]
    assert "teacher request failed" in reasons[0]
    assert "LLMTimeoutError" in reasons[3] or "no reply" in reasons[3]
    # A failed request is not the teacher's fault: it is not fed back as a rejection.
    assert not any("request failed" in prompt for prompt in play.teacher_prompts)


@pytest.mark.anyio
async def test_student_failure_keeps_the_chain_going(sandbox: Sandbox) -> None:
    play = Play(
        teacher=["ok", "same"],
        rates=[0.5],
        student=[Reply(status=500), Reply(status=500), Reply(body="[]")],
    )
    async with context(play, sandbox, CONFIG.replace(max_turns=3)) as ctx:
        chain = await run_chain(ctx, SEED, "adaptive")
    check_records(chain)
    first, second, third = chain.turns
    assert first.rejection is not None and first.rejection.kind == "llm"
    assert "student request failed" in first.rejection.reason
    assert first.rejection.draft is not None  # the valid draft is kept with the failure
    # The same problem proposed again is not a duplicate: it was never measured.
    assert second.rejection is not None and second.rejection.kind == "llm"
    assert third.problem is not None and third.problem.pass_rate == 0.5
    assert third.instruction == "seed"


@pytest.mark.anyio
async def test_fewer_choices_than_n_still_gives_m_attempts(sandbox: Sandbox) -> None:
    play = Play(rates=[1.0], max_choices=1)
    async with context(play, sandbox, CONFIG.replace(max_turns=1)) as ctx:
        chain = await run_chain(ctx, SEED, "adaptive")
    check_records(chain)
    (turn,) = chain.turns
    assert len(turn.attempts) == 4
    assert turn.summary is not None and turn.summary.pass_rate == 1.0
    assert play.student_calls >= 4  # the client split n=4 into single requests


@pytest.mark.anyio
async def test_slow_student_within_the_deadline_is_fine(sandbox: Sandbox) -> None:
    play = Play(rates=[0.5], student_delay_s=0.3)
    async with context(play, sandbox, CONFIG.replace(max_turns=1)) as ctx:
        chain = await run_chain(ctx, SEED, "adaptive")
    assert chain.turns[0].problem is not None


@pytest.mark.anyio
async def test_top_down_goes_hard_medium_easy(sandbox: Sandbox) -> None:
    play = Play(teacher=["ok", "format", "ok", "ok"], rates=[0.25, 0.5, 0.75])
    async with context(play, sandbox) as ctx:
        chain = await run_chain(ctx, SEED, "top_down")
    check_records(chain)
    assert [t.instruction for t in chain.turns] == ["hard", "medium", "medium", "easy"]
    assert chain.turns[1].rejection is not None
    hard, medium, easy = chain.problems
    assert (hard.parent_id, medium.parent_id, easy.parent_id) == (None, hard.id, medium.id)
    assert "previous, harder problem" in play.teacher_prompts[2]
    assert "rejected" in play.teacher_prompts[2]


@pytest.mark.anyio
async def test_single_turn_samples_independently(sandbox: Sandbox) -> None:
    play = Play(teacher=["ok", "same", "ok", "format"], rates=[0.5, 1.0])
    async with context(play, sandbox, CONFIG.replace(max_turns=4)) as ctx:
        chain = await run_chain(ctx, SEED, "single_turn")
    check_records(chain)
    assert [t.instruction for t in chain.turns] == ["seed"] * 4
    kinds = [t.rejection.kind if t.rejection else "ok" for t in chain.turns]
    assert kinds == ["ok", "duplicate", "ok", "format"]
    assert all(p.parent_id is None for p in chain.problems)
    # No feedback and no summary: every prompt is the same seed prompt.
    assert len(set(play.teacher_prompts)) == 1


@pytest.mark.anyio
async def test_generate_chain_from_a_string_with_endpoints(sandbox: Sandbox) -> None:
    play = Play(rates=[0.5])
    async with ScriptedLLMServer(play) as srv:
        chain = await generate_chain(
            "def add(a, b):\n    return a + b\n",
            env="deduction",
            mode="adaptive",
            config=CONFIG.replace(max_turns=2),
            teacher=Endpoint(base_url=srv.base_url, model="teacher"),
            student=Endpoint(base_url=srv.base_url, model="student"),
            sandbox=sandbox,
        )
    check_records(chain)
    assert chain.seed.source == "<string>"
    assert chain.seed.end_line == 2
    assert len(chain.turns) == 2


@pytest.mark.anyio
async def test_generate_chain_reads_endpoints_and_config_from_the_environment(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cfg_file = tmp_path / "gen.toml"
    cfg_file.write_text("samples = 2\nmax_turns = 1\n")
    play = Play(rates=[1.0])
    async with ScriptedLLMServer(play) as srv:
        monkeypatch.setenv("STEPSTONES_BASE_URL", srv.base_url)
        monkeypatch.setenv("STEPSTONES_TEACHER_MODEL", "teacher")
        monkeypatch.setenv("STEPSTONES_STUDENT_MODEL", "student")
        monkeypatch.setenv("STEPSTONES_CONFIG", str(cfg_file))
        chain = await generate_chain(SEED, env="deduction", sandbox=sandbox)
    assert len(chain.turns) == 1
    assert len(chain.turns[0].attempts) == 2


@pytest.mark.anyio
async def test_mutate_prompt_aims_at_the_configured_target_band(sandbox: Sandbox) -> None:
    config = msgspec.structs.replace(CONFIG, target_low=0.3, target_high=0.6, max_turns=2)
    play = Play(rates=[1.0, 0.5])
    async with context(play, sandbox, config) as ctx:
        await run_chain(ctx, SEED, "adaptive")
    assert "between 0.3 and 0.6" in play.teacher_prompts[1]
    assert "0.35" not in play.teacher_prompts[1]


class ScriptedClaims:
    """ProblemClaims answering from a script, standing in for a Ray run's ledger."""

    def __init__(self, answers: list[bool]) -> None:
        self.answers = answers
        self.claimed: list[str] = []
        self.released: list[str] = []

    async def claim(self, problem_id: str) -> bool:
        self.claimed.append(problem_id)
        return self.answers.pop(0)

    async def release(self, problem_id: str) -> None:
        self.released.append(problem_id)


@pytest.mark.anyio
async def test_a_refused_claim_is_a_duplicate_and_an_unmeasured_problem_is_released(
    sandbox: Sandbox,
) -> None:
    play = Play(teacher=["ok", "ok", "same", "same"], student=[Reply(status=500)] * 2)
    claims = ScriptedClaims([False, True, True])
    async with context(play, sandbox, CONFIG.replace(max_turns=4)) as ctx:
        ctx.claims = claims
        chain = await run_chain(ctx, SEED, "single_turn")
    check_records(chain)
    # Refused run-wide; granted, then released when the student failed; granted and measured;
    # then repeated within this process: a duplicate without asking again.
    assert [t.rejection.kind if t.rejection else "ok" for t in chain.turns] == [
        "duplicate",
        "llm",
        "ok",
        "duplicate",
    ]
    first, second = claims.claimed[:2]
    assert first != second and claims.claimed == [first, second, second]
    assert claims.released == [second]
    assert ctx.seen_problems == {first, second}
