"""Use stepstones rewards inside your own TRL-style reward function.

    python examples/trl_reward_callable.py

TRL's ``GRPOTrainer(reward_funcs=[...])`` calls each reward function as
``f(prompts, completions, **columns) -> list[float | None]`` (sync or async), passing every
dataset column by name. ``stepstones.serve.trl_reward`` reads the ``label`` column (written by
``stepstones export --format trl``) and grades each completion in the sandbox. Here it is
wrapped in a function of your own that adds a shaping term, and called on a batch shaped
like TRL's, so it runs without TRL installed::

    trainer = GRPOTrainer(model=..., reward_funcs=[correct_and_concise], args=GRPOConfig(...),
                          train_dataset=load_dataset("json", data_files="data/trl.jsonl"))
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import anyio

from stepstones import envs, records
from stepstones.records import Draft, Problem
from stepstones.sandbox import shared_sandbox
from stepstones.serve import trl_reward

MAX_CHARS = 400


async def correct_and_concise(
    prompts: Sequence[Any], completions: Sequence[Any], label: Sequence[str], **kwargs: Any
) -> list[float]:
    """1.0 for a correct answer (graded by execution), minus up to 0.2 for rambling."""
    correct = await trl_reward(prompts, completions, label=label, **kwargs)
    out = []
    for reward, completion in zip(correct, completions, strict=True):
        text = completion[-1]["content"] if isinstance(completion, list) else str(completion)
        out.append(reward - 0.2 * min(1.0, max(0, len(text) - MAX_CHARS) / MAX_CHARS))
    return out


async def exported_label() -> str:
    """An abduction problem (find an input giving the output), as the TRL export writes it."""
    draft = Draft(
        env="abduction",
        code="def f(s):\n    return s[::-1].upper()\n",
        inputs=("'abc'", "'hello'", "'x'", "''", "'Ray'"),
    )
    problem = await envs.get("abduction").validate(draft, shared_sandbox())
    assert isinstance(problem, Problem), problem
    return records.encode_json(problem).decode()


async def main() -> int:
    label = await exported_label()
    # A conversational batch, as TRL passes it: one list of messages per completion.
    prompts = [[{"role": "user", "content": "Find an input x with f(x) == 'CBA'."}]] * 3
    completions = [
        [
            {
                "role": "assistant",
                "content": "Reversing 'CBA' and lowering it:\n```input\n'abc'\n```",
            }
        ],
        [{"role": "assistant", "content": "```input\n'cba'\n```"}],
        [{"role": "assistant", "content": "Let me think. " * 60 + "\n```input\n'abc'\n```"}],
    ]
    rewards = await correct_and_concise(prompts, completions, label=[label] * 3)
    for name, reward in zip(("right", "wrong", "right but long"), rewards, strict=True):
        print(f"{name:<15} reward {reward:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(anyio.run(main))
