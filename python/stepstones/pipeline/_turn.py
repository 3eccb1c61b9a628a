"""One teacher turn: ask, parse, validate, attempt, grade, summarize (docs/design.md §2 steps 1-4).

Every way a turn can fail on the teacher's or the student's side (a failed request, an
unparseable reply, an invalid or duplicate problem) ends the turn as data — a Turn holding a
Rejection — so a chain always carries on. Only a failure of the machinery itself (the sandbox,
a bug) raises.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import anyio
import msgspec

from stepstones.envs import BaseEnvironment, Environment
from stepstones.errors import LLMError
from stepstones.llm import ChatBackend, ChatResult, Sampling
from stepstones.pipeline._config import Config, SamplingConfig
from stepstones.pipeline._summary import build_summary
from stepstones.records import (
    Attempt,
    Draft,
    Message,
    Problem,
    Rejection,
    Turn,
    Usage,
)
from stepstones.sandbox import Sandbox

__all__ = ["ProblemClaims", "TurnContext", "run_turn", "usage_sum"]


class ProblemClaims(Protocol):
    """A run-wide authority on which problems are taken, for runs that span processes.

    claim: True if the problem id was free and is now taken by the asking chain; False if
        another chain (or an earlier run) already holds it, which makes it a duplicate.
    release: give back a problem this chain claimed but could not measure, so the teacher
        may propose it again.
    """

    async def claim(self, problem_id: str) -> bool: ...

    async def release(self, problem_id: str) -> None: ...


@dataclass(eq=False)
class TurnContext:
    """What every turn of a run shares: the parts, the settings and the run-wide state.

    ``seen_problems`` holds the ids (normalized code + inputs) of every problem accepted in the
    run, so a repeated problem is rejected as a duplicate. When the run spans processes (Ray
    actors), each has its own ``seen_problems`` and ``claims`` is asked as well, after the
    local set: a problem is accepted only if the run-wide authority grants it. ``None`` (one
    process): ``seen_problems`` alone decides. ``sandbox_slots`` bounds sandbox work in flight
    (validation and grading) so that many chains do not pile up threads. ``on_turn`` is told
    about every finished turn (progress displays).
    """

    env: BaseEnvironment | Environment
    teacher: ChatBackend
    student: ChatBackend
    sandbox: Sandbox
    config: Config
    sandbox_slots: anyio.CapacityLimiter = field(default_factory=lambda: anyio.CapacityLimiter(4))
    seen_problems: set[str] = field(default_factory=set)
    claims: ProblemClaims | None = None
    on_turn: Callable[[Turn], None] | None = None


def _sampling(cfg: SamplingConfig) -> Sampling:
    return Sampling(
        temperature=cfg.temperature,
        top_p=cfg.top_p,
        max_tokens=cfg.max_tokens,
        seed=cfg.seed,
        reasoning_effort=cfg.reasoning_effort or None,  # "" (TOML has no null): not sent
    )


async def _chat(
    backend: ChatBackend, messages: Sequence[Message], sampling: Sampling, n: int, timeout_s: float
) -> ChatResult | str:
    """The chat result, or the reason the request failed (in words for the record)."""
    try:
        with anyio.fail_after(timeout_s):
            return await backend.chat(messages, sampling, n)
    except LLMError as exc:
        return f"{type(exc).__name__}: {exc}"
    except TimeoutError:
        return f"no reply within {timeout_s:g} s"


async def run_turn(
    ctx: TurnContext,
    index: int,
    instruction: str,
    messages: Sequence[Message],
    *,
    seed_id: str | None,
    parent_id: str | None,
) -> Turn:
    """Run one turn and return it; reports it to ``ctx.on_turn``."""
    turn = await _run_turn(ctx, index, instruction, messages, seed_id=seed_id, parent_id=parent_id)
    if ctx.on_turn is not None:
        ctx.on_turn(turn)
    return turn


async def _run_turn(
    ctx: TurnContext,
    index: int,
    instruction: str,
    messages: Sequence[Message],
    *,
    seed_id: str | None,
    parent_id: str | None,
) -> Turn:
    start = Turn(index=index, instruction=instruction)
    reply = await _chat(
        ctx.teacher, messages, _sampling(ctx.config.teacher_sampling), 1, ctx.config.chat_timeout_s
    )
    if isinstance(reply, str):
        return _llm_failure(start, f"teacher request failed: {reply}")
    start = msgspec.structs.replace(start, teacher_usage=reply.usage)
    if not reply.choices:
        return _llm_failure(start, "teacher reply had no choices")
    start = msgspec.structs.replace(start, teacher_reply=reply.choices[0].text)
    draft = ctx.env.parse(reply.choices[0].text, reasoning=reply.choices[0].reasoning)
    if isinstance(draft, Rejection):
        return msgspec.structs.replace(start, rejection=draft)
    problem, validate_s = await _validate(ctx, draft, seed_id, parent_id)
    start = msgspec.structs.replace(start, draft=draft, sandbox_s=validate_s)
    if isinstance(problem, Rejection):
        return msgspec.structs.replace(start, rejection=problem)
    return await _measure(ctx, start, problem)


async def _validate(
    ctx: TurnContext, draft: Draft, seed_id: str | None, parent_id: str | None
) -> tuple[Problem | Rejection, float]:
    """The problem or why not, and the wall seconds the sandbox took (not the slot wait)."""
    async with ctx.sandbox_slots:
        started = time.perf_counter()
        checked = await ctx.env.validate(draft, ctx.sandbox, seed_id=seed_id, parent_id=parent_id)
        took_s = time.perf_counter() - started
    return await _claim(ctx, draft, checked), took_s


async def _claim(
    ctx: TurnContext, draft: Draft, checked: Problem | Rejection
) -> Problem | Rejection:
    if isinstance(checked, Rejection):
        return checked
    if checked.id in ctx.seen_problems:
        return _duplicate(draft)
    # Taken locally before asking the run-wide authority, so that a chain of this process
    # proposing the same problem meanwhile is a duplicate without a second claim. A refused
    # claim stays in the set: the problem is taken elsewhere in the run.
    ctx.seen_problems.add(checked.id)
    if ctx.claims is not None and not await ctx.claims.claim(checked.id):
        return _duplicate(draft)
    return checked


def _duplicate(draft: Draft) -> Rejection:
    return Rejection(
        kind="duplicate",
        reason="this problem (same code and inputs) was already generated; write a different one",
        draft=draft,
    )


async def _measure(ctx: TurnContext, turn: Turn, problem: Problem) -> Turn:
    """Student attempts (one request with n=M), grades and the summary."""
    cfg = ctx.config
    reply = await _chat(
        ctx.student,
        ctx.env.student_prompt(problem),
        _sampling(cfg.student_sampling),
        cfg.samples,
        cfg.chat_timeout_s,
    )
    if isinstance(reply, str) or not reply.choices:
        # The problem is valid but unmeasured: the chain cannot build on it, and the teacher
        # may propose it again next turn without it counting as a duplicate.
        ctx.seen_problems.discard(problem.id)
        if ctx.claims is not None:
            await ctx.claims.release(problem.id)
        if isinstance(reply, str):
            return _llm_failure(turn, f"student request failed: {reply}")
        return _llm_failure(
            msgspec.structs.replace(turn, student_usage=reply.usage), "student reply had no choices"
        )
    turn = msgspec.structs.replace(turn, student_usage=reply.usage)
    attempts = tuple(_attempt(ctx, problem, i, c.text) for i, c in enumerate(reply.choices))
    async with ctx.sandbox_slots:
        started = time.perf_counter()
        grades = await ctx.env.grade(problem, [a.answer for a in attempts], ctx.sandbox)
        grade_s = time.perf_counter() - started
    summary = build_summary(attempts, grades, cfg)
    measured = msgspec.structs.replace(
        problem, pass_rate=summary.pass_rate, n_attempts=summary.n_attempts
    )
    return msgspec.structs.replace(
        turn,
        problem=measured,
        attempts=attempts,
        grades=tuple(grades),
        summary=summary,
        sandbox_s=turn.sandbox_s + grade_s,
    )


def _attempt(ctx: TurnContext, problem: Problem, index: int, text: str) -> Attempt:
    answer = ctx.env.extract(text)
    return Attempt(
        problem_id=problem.id,
        index=index,
        completion=text,
        answer=answer,
        format_error=None if answer is not None else "no answer block found",
    )


def _llm_failure(turn: Turn, reason: str) -> Turn:
    """A turn whose teacher or student request failed: a Rejection of kind "llm"."""
    rejection = Rejection(kind="llm", reason=reason, draft=turn.draft)
    return msgspec.structs.replace(turn, rejection=rejection)


def usage_sum(usages: Sequence[Usage]) -> Usage:
    """Total of several usage records."""
    return Usage(
        prompt_tokens=sum(u.prompt_tokens for u in usages),
        completion_tokens=sum(u.completion_tokens for u in usages),
        requests=sum(u.requests for u in usages),
        latency_s=sum(u.latency_s for u in usages),
    )
