"""Hand-built runs for the report tests: real records written through the real RunStore
(nothing generated; the numbers are chosen so every figure has something to show)."""

from __future__ import annotations

from pathlib import Path

import anyio

from stepstones.pipeline import Config, Manifest, RunStore
from stepstones.records import (
    Chain,
    Draft,
    Env,
    Mode,
    Problem,
    Rejection,
    RejectionKind,
    Seed,
    Summary,
    Turn,
    Usage,
)

CONFIG = Config(samples=4, max_turns=3)
#: A teacher reply that must reach the page as text, never as markup.
HOSTILE_REPLY = "<script>alert('x')</script> & no blocks at all " + "y" * 2000

#: A step of a hand-built chain: a measured pass rate, or the kind of a rejection.
Step = float | RejectionKind


def seed(n: int) -> Seed:
    return Seed(id=f"seed{n}", text=f"x = {n}\n", source="lib/m.py", start_line=n, end_line=n + 4)


def turn(index: int, step: Step, *, chain: str, env: Env, parent: str | None) -> Turn:
    teacher = Usage(prompt_tokens=100, completion_tokens=50, requests=1, latency_s=2.0)
    if isinstance(step, str):
        reply = (
            HOSTILE_REPLY if step == "format" else f"```python\ndef f(x):\n    return {index}\n```"
        )
        return Turn(
            index=index,
            instruction="seed" if parent is None else "harder",
            rejection=Rejection(kind=step, reason=f"{step} problem in turn {index}"),
            teacher_usage=teacher,
            teacher_reply=reply,
            sandbox_s=0.25 if step != "format" else 0.0,
        )
    pid = f"{chain}-p{index}"
    code = f"def f(x):\n    return x + {index}\n"
    return Turn(
        index=index,
        instruction="seed" if parent is None else "harder",
        draft=Draft(env=env, code=code, inputs=("1",)),
        problem=Problem(
            id=pid,
            env=env,
            code=code,
            inputs=("1",),
            outputs=(str(1 + index),),
            message=f"add {index} <b>to</b> x",
            parent_id=parent,
            pass_rate=step,
            n_attempts=4,
        ),
        summary=Summary(pass_rate=step, n_attempts=4, n_passed=round(step * 4)),
        teacher_usage=teacher,
        student_usage=Usage(prompt_tokens=40, completion_tokens=200, requests=1, latency_s=3.0),
        teacher_reply=f"```python\n{code}```",
        sandbox_s=0.5,
    )


def chain(n: int, steps: list[Step], *, env: Env = "deduction", mode: Mode = "adaptive") -> Chain:
    cid = f"{env}-{mode}-{n}"
    turns, parent = [], None
    for i, step in enumerate(steps):
        t = turn(i, step, chain=cid, env=env, parent=parent)
        turns.append(t)
        if t.problem is not None:
            parent = t.problem.id
    return Chain(id=cid, seed=seed(n), env=env, mode=mode, turns=tuple(turns))


def varied_chains() -> list[Chain]:
    """Two environments, three modes, stones at many pass rates, every common rejection."""
    return [
        chain(0, [1.0, 0.75, 0.5], env="deduction", mode="adaptive"),
        chain(1, ["format", 0.0, 0.25], env="deduction", mode="adaptive"),
        chain(2, [0.5, "duplicate", 0.75], env="induction", mode="adaptive"),
        chain(3, ["format", "format", 1.0], env="induction", mode="single_turn"),
        chain(4, [0.0, "error", "llm"], env="deduction", mode="single_turn"),
        chain(5, [0.25, 0.5, 0.0], env="induction", mode="top_down"),
    ]


async def _store(path: Path, chains: list[Chain], config: Config) -> None:
    with RunStore.open(path, Manifest(config=config, teacher="t", student="s")) as store:
        for c in chains:
            await store.append(c)


def write_run(path: Path, chains: list[Chain], config: Config = CONFIG) -> Path:
    """A run directory holding ``chains``, written by the real store."""
    anyio.run(_store, path, chains, config)
    return path
