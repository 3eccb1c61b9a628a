"""Use stepstones rewards from your own verl ``compute_score``, next to your other data.

    python examples/verl_compute_score.py

verl calls ``compute_score(data_source, solution_str, ground_truth, extra_info=None)`` for every
sample (config: ``reward.custom_reward_function.path=this_file.py`` and
``reward.custom_reward_function.name=compute_score``). A mixed dataset is common: here rows
exported by stepstones (``data_source`` starting with ``stepstones/``) are graded by executing
code in the sandbox through ``stepstones.serve.compute_score``, while the other rows keep your
own scorer. The main block calls it on rows shaped like verl's, so it runs without verl.
"""

from __future__ import annotations

import re
import sys
from typing import Any

import anyio

from stepstones import envs
from stepstones.dataset import datasource, label_of
from stepstones.records import Draft, Problem
from stepstones.sandbox import shared_sandbox
from stepstones.serve import compute_score as stepstones_score


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: Any,
    extra_info: dict[str, Any] | None = None,
    **kwargs: Any,
) -> dict[str, float]:
    """The function verl loads: stepstones rows are executed, the rest matched by text."""
    if data_source.startswith("stepstones/"):
        return stepstones_score(data_source, solution_str, ground_truth, extra_info, **kwargs)
    # Your existing scorer, e.g. a final-answer match for math rows.
    found = re.findall(r"\\boxed\{([^}]*)\}", solution_str)
    return {"score": 1.0 if found and found[-1].strip() == str(ground_truth).strip() else 0.0}


async def exported_problem() -> Problem:
    """A fuzzing problem: find an input that satisfies pre_test_f and breaks test_f."""
    code = (
        "def f(xs):\n    return sorted(set(xs))\n\n"
        "def pre_test_f(xs):\n"
        "    return isinstance(xs, list) and all(isinstance(x, int) for x in xs)\n\n"
        "def test_f(xs):\n    return len(f(xs)) == len(xs)\n"
    )
    draft = Draft(
        env="fuzzing",
        code=code,
        inputs=("[1, 2]", "[5]", "[]", "[3, 1]", "[0, 7, 9]"),
        witness="[1, 1]",
    )
    problem = await envs.get("fuzzing").validate(draft, shared_sandbox())
    assert isinstance(problem, Problem), problem
    return problem


def main() -> int:
    problem = anyio.run(exported_problem)
    source, label = datasource(problem, "medium"), label_of(problem)
    rows = [  # (data_source, solution_str, ground_truth) as verl hands them over
        (source, "Duplicates collapse.\n```input\n[3, 3, 1]\n```", label, "breaks test_f"),
        (source, "```input\n[1, 2, 3]\n```", label, "test_f holds: no bug found"),
        (source, "```input\n['a', 'a']\n```", label, "fails pre_test_f: invalid input"),
        ("gsm8k", "so the answer is \\boxed{42}", "42", "your own data, your own scorer"),
    ]
    for data_source, solution, truth, what in rows:
        result = compute_score(data_source, solution, truth, extra_info={"index": 0})
        print(f"{data_source:<28} score {result['score']:.1f}  ({what})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
