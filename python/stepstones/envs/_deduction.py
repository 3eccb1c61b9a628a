"""Deduction: the student sees ``f`` and an input and predicts the output (docs/design.md §3).

Grading needs no fork at all: the gold output was computed at validation, the answer is data
parsed with the literal parser in the parent, and the two are compared as Python values
(:func:`stepstones.envs.compare`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from stepstones.envs._compare import compare
from stepstones.envs._core import BaseEnvironment
from stepstones.envs._grading import no_answer
from stepstones.envs._prompts import fence
from stepstones.records import Env, Grade, Message, Problem

if TYPE_CHECKING:
    from stepstones.sandbox import Sandbox

__all__ = ["Deduction"]


class Deduction(BaseEnvironment):
    """Predict ``f(input)`` for the problem's first input; reward 1 iff equal as Python values."""

    name: ClassVar[Env] = "deduction"
    answer_kind: ClassVar[str] = "output"

    def task(self) -> str:
        return (
            "Write a DEDUCTION problem. The student sees the code of f and your FIRST input, and "
            "must predict exactly what f returns, without running it. Make f need careful "
            "step-by-step reasoning (state changes, loops, string or list manipulation), while "
            "its output stays a short plain literal."
        )

    def student_prompt(self, problem: Problem) -> list[Message]:
        text = (
            "Here is a Python function:\n\n"
            f"{fence('python', problem.code)}\n\n"
            "It is called as f(<input>) with this input (an argument list):\n\n"
            f"{fence('input', problem.inputs[0])}\n\n"
            "What does the call return? Reason briefly (a few short lines), then give the exact "
            "return value as a Python literal in a final ```output block, for example:\n\n"
            "```output\n[1, 'a', (2.5, None)]\n```\n\n"
            "Types matter: 2 is not 2.0, a tuple is not a list, True is not 1."
        )
        return [Message("user", text)]

    async def grade(
        self, problem: Problem, answers: Sequence[str | None], sandbox: Sandbox | None = None
    ) -> list[Grade]:
        """Compare each answer with the gold output in the parent; ``sandbox`` is not used."""
        self.check_gradable(problem)
        gold = problem.outputs[0]
        grades: list[Grade] = []
        for answer in answers:
            if answer is None:
                grades.append(no_answer())
                continue
            if len(answer) > self.max_answer_chars:
                grades.append(Grade(reward=0.0, reason="answer is too long", status="format"))
                continue
            equal, reason = compare(answer, gold)
            grades.append(Grade(reward=1.0 if equal else 0.0, reason=reason))
        return grades
