"""Abduction: the student sees ``f`` and an output and finds an input giving it (docs/design.md §3).

Any input counts: the answers are parsed in the parent, and all distinct ones are run as ONE
call job against the validated ``f`` (see :mod:`._grading`); ``f(answer)`` is compared with the
gold output as Python values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from stepstones.envs._compare import compare
from stepstones.envs._core import BaseEnvironment
from stepstones.envs._grading import grade_data_answers
from stepstones.envs._prompts import fence
from stepstones.records import Env, Grade, Message, Problem
from stepstones.sandbox._types import CallResult

if TYPE_CHECKING:
    from stepstones.sandbox import Sandbox

__all__ = ["Abduction"]


class Abduction(BaseEnvironment):
    """Find an input ``x`` with ``f(x) == output`` (first gold output); any such input counts."""

    name: ClassVar[Env] = "abduction"
    answer_kind: ClassVar[str] = "input"

    def task(self) -> str:
        return (
            "Write an ABDUCTION problem. The student sees the code of f and the output f returns "
            "on your FIRST input, and must find an input (any input) that makes f return exactly "
            "that output. Make f such that working backwards from the output needs real "
            "reasoning, but keep at least one input findable by hand."
        )

    def student_prompt(self, problem: Problem) -> list[Message]:
        text = (
            "Here is a Python function:\n\n"
            f"{fence('python', problem.code)}\n\n"
            "Find arguments such that f(<your arguments>) returns exactly:\n\n"
            f"{fence('output', problem.outputs[0])}\n\n"
            "Any arguments that produce this value count. Reason briefly (a few short lines), "
            "then give the arguments in a final ```input block, written exactly as inside the "
            "parentheses of the call, using only plain Python literals, for example:\n\n"
            "```input\n'John', {'age': 20}\n```"
        )
        return [Message("user", text)]

    async def grade(
        self, problem: Problem, answers: Sequence[str | None], sandbox: Sandbox
    ) -> list[Grade]:
        self.check_gradable(problem)
        gold = problem.outputs[0]

        def judge(call: CallResult) -> Grade:
            if call.exception_type is not None:
                return Grade(
                    reward=0.0,
                    reason=f"f raised {call.exception_type}: {call.exception_message or ''}",
                )
            if call.value is None:
                return Grade(reward=0.0, reason="f returned a value that is not a plain literal")
            equal, reason = compare(call.value, gold)
            return Grade(
                reward=1.0 if equal else 0.0, reason=reason if equal else f"f(answer) {reason}"
            )

        return await grade_data_answers(
            sandbox,
            answers,
            source=problem.code,
            function="f",
            limits=self.limits,
            max_answer_chars=self.max_answer_chars,
            judge=judge,
        )
