"""The three ways to grow a chain from a seed (docs/design.md §2 steps 5-7).

adaptive     seed -> problem -> harder/easier/sibling by the measured pass rate, until every
             wanted band is covered or the turn budget is spent (the paper's default).
top_down     a hard problem first, then a medium and an easy variant of it, so hard problems are
             not trivial edits of easy ones.
single_turn  independent samples from the seed with no feedback: the baseline that the >4x
             yield of multi-turn generation is measured against.

Every turn, valid or not, is kept; a measured problem's ``parent_id`` is the problem it was
derived from.
"""

from __future__ import annotations

from typing import get_args

from stepstones.envs import Stage
from stepstones.errors import ConfigError
from stepstones.pipeline._config import Config
from stepstones.pipeline._progression import is_complete, next_instruction
from stepstones.pipeline._summary import feedback
from stepstones.pipeline._turn import TurnContext, run_turn
from stepstones.records import Chain, Env, Mode, Problem, Rejection, Seed, Turn, content_hash

__all__ = ["MODES", "chain_id", "run_chain"]

MODES: tuple[Mode, ...] = get_args(Mode)
_STAGES: tuple[Stage, ...] = ("hard", "medium", "easy")


def chain_id(seed: Seed, env: Env, mode: Mode, config: Config) -> str:
    """Stable id of the chain a run would grow: seed id + environment + mode + config."""
    return content_hash(seed.id, env, mode, config.fingerprint())


async def run_chain(ctx: TurnContext, seed: Seed, mode: Mode) -> Chain:
    """Grow one chain from ``seed`` in ``mode`` with the parts and settings in ``ctx``."""
    if mode == "adaptive":
        turns = await _adaptive(ctx, seed)
    elif mode == "top_down":
        turns = await _top_down(ctx, seed)
    elif mode == "single_turn":
        turns = await _single_turn(ctx, seed)
    else:
        raise ConfigError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    env = ctx.env.name
    return Chain(
        id=chain_id(seed, env, mode, ctx.config),
        seed=seed,
        env=env,
        mode=mode,
        turns=tuple(turns),
    )


def _measured(turn: Turn) -> Problem | None:
    return turn.problem if turn.problem is not None and turn.summary is not None else None


async def _adaptive(ctx: TurnContext, seed: Seed) -> list[Turn]:
    turns: list[Turn] = []
    last: Turn | None = None  # the last measured turn: what the next one adapts
    rejected: Rejection | None = None  # the previous turn's rejection, fed back once
    rates: list[float] = []
    while len(turns) < ctx.config.max_turns:
        if last is None or last.problem is None or last.summary is None:
            instruction, parent = "seed", None
            messages = ctx.env.seed_prompt(seed, feedback=feedback(rejected))
        else:
            parent = last.problem
            instruction = next_instruction(last.summary.pass_rate, rates, ctx.config)
            messages = ctx.env.mutate_prompt(
                parent,
                last.summary,
                instruction,
                feedback=feedback(rejected),
                target=(ctx.config.target_low, ctx.config.target_high),
            )
        turn = await run_turn(
            ctx,
            len(turns),
            instruction,
            messages,
            seed_id=seed.id,
            parent_id=parent.id if parent else None,
        )
        turns.append(turn)
        measured = _measured(turn)
        if measured is None:
            rejected = turn.rejection
            continue
        last, rejected = turn, None
        rates.append(measured.pass_rate or 0.0)
        if is_complete(rates, ctx.config):
            break
    return turns


async def _top_down(ctx: TurnContext, seed: Seed) -> list[Turn]:
    turns: list[Turn] = []
    previous: Problem | None = None
    rejected: Rejection | None = None
    stage_index = 0
    while stage_index < len(_STAGES) and len(turns) < ctx.config.max_turns:
        stage = _STAGES[stage_index]
        messages = ctx.env.top_down_prompt(seed, stage, previous, feedback=feedback(rejected))
        turn = await run_turn(
            ctx,
            len(turns),
            stage,
            messages,
            seed_id=seed.id,
            parent_id=previous.id if previous else None,
        )
        turns.append(turn)
        measured = _measured(turn)
        if measured is None:
            rejected = turn.rejection
            continue
        previous, rejected = measured, None
        stage_index += 1
    return turns


async def _single_turn(ctx: TurnContext, seed: Seed) -> list[Turn]:
    # Independent samples: the same seed prompt every time, no feedback, no parent.
    messages = ctx.env.seed_prompt(seed)
    return [
        await run_turn(ctx, index, "seed", messages, seed_id=seed.id, parent_id=None)
        for index in range(ctx.config.max_turns)
    ]
