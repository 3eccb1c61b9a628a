"""Check a problem and grade answers to it in the sandbox, with no LLM at all.

    python examples/grade_answers.py

A problem starts as a Draft (what a teacher writes: code and inputs). Validating it runs the
code on every input in the sandbox, twice with different hash seeds, and computes the gold
outputs (the teacher never writes them). Grading runs or compares each answer and gives a
binary reward with the reason. Induction answers are programs, so each one runs in its own
sandboxed child; deduction answers are data, compared without running anything.
"""

from __future__ import annotations

import sys

import anyio

from stepstones import envs
from stepstones.records import Draft, Problem
from stepstones.sandbox import Sandbox

CODE = """\
def f(words, k):
    counts = {}
    for w in words:
        counts[w] = counts.get(w, 0) + 1
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [w for w, _ in ranked[:k]]
"""
INPUTS = (
    "['a', 'b', 'a'], 1",
    "['x', 'y', 'z', 'y'], 2",
    "[], 3",
    "['q', 'q', 'r', 'r', 's'], 2",
    "['m'], 1",
)

#: Student completions as a model would write them (fenced answer blocks).
INDUCTION_ANSWERS = [
    # right: the same ranking
    "```python\nfrom collections import Counter\n\ndef f(words, k):\n"
    "    c = Counter(words)\n    return sorted(c, key=lambda w: (-c[w], w))[:k]\n```",
    # wrong: ties are not broken alphabetically
    "```python\nfrom collections import Counter\n\ndef f(words, k):\n"
    "    return [w for w, _ in Counter(words).most_common(k)][::-1]\n```",
    # no answer block at all
    "I think it counts words.",
    # an infinite loop: stopped by the sandbox's time limit, reward 0
    "```python\ndef f(words, k):\n    while True:\n        pass\n```",
]
DEDUCTION_ANSWERS = ["```output\n['a']\n```", "```output\n['b']\n```"]


async def grade(env_name: str, sandbox: Sandbox, completions: list[str]) -> Problem:
    env = envs.get(env_name)
    checked = await env.validate(Draft(env=env_name, code=CODE, inputs=INPUTS), sandbox)
    if not isinstance(checked, Problem):
        raise SystemExit(f"the draft was rejected ({checked.kind}): {checked.reason}")
    print(f"{env_name}: problem {checked.id}, gold outputs {list(checked.outputs)}")
    answers = [env.extract(text) for text in completions]
    for grade in await env.grade(checked, answers, sandbox):
        print(f"  reward {grade.reward:.0f}  {grade.status:<14} {grade.reason[:90]}")
    return checked


async def main() -> int:
    with Sandbox(workers=2) as sandbox:
        print("sandbox isolation:", ", ".join(sandbox.capabilities.active))
        await grade("induction", sandbox, INDUCTION_ANSWERS)
        await grade("deduction", sandbox, DEDUCTION_ANSWERS)
    return 0


if __name__ == "__main__":
    sys.exit(anyio.run(main))
