"""Induction: the student sees the message and some I/O pairs and writes ``f`` (docs/design.md §3).

The student's ``f`` is untrusted code: each answer gets its own child (one call job with every
input), all answers of a problem run in parallel over the zygotes. Reward 1 iff it reproduces
EVERY gold output, including the held-out ones the student never saw, so a lookup table of the
shown pairs does not pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

import anyio

from stepstones import _literal
from stepstones.envs._banned import BannedConstructs
from stepstones.envs._compare import compare
from stepstones.envs._core import BaseEnvironment
from stepstones.envs._grading import no_answer, outcome_reason
from stepstones.envs._parse import defined_functions
from stepstones.envs._prompts import fence, io_pairs
from stepstones.errors import ConfigError
from stepstones.records import Env, Grade, Message, Problem
from stepstones.sandbox._types import Call, Limits, Outcome

if TYPE_CHECKING:
    from stepstones.sandbox import Sandbox

__all__ = ["Induction"]


class Induction(BaseEnvironment):
    """Write ``f`` from a message and input/output pairs; reward 1 iff every gold output matches.

    shown_pairs: how many of the problem's input/output pairs the student sees (the first ones);
        the rest are held out and still graded.
    """

    name: ClassVar[Env] = "induction"
    answer_kind: ClassVar[str] = "python"
    needs_message: ClassVar[bool] = True

    def __init__(
        self,
        *,
        n_inputs: int = 5,
        shown_pairs: int = 3,
        banned: BannedConstructs | None = None,
        limits: Limits | None = None,
        max_output_chars: int = 4_000,
        max_answer_chars: int = 100_000,
    ) -> None:
        super().__init__(
            n_inputs=n_inputs,
            banned=banned,
            limits=limits,
            max_output_chars=max_output_chars,
            max_answer_chars=max_answer_chars,
        )
        if not 1 <= shown_pairs <= n_inputs:
            raise ConfigError(f"shown_pairs must be in 1..{n_inputs}, got {shown_pairs}")
        self.shown_pairs = shown_pairs

    def task(self) -> str:
        return (
            "Write an INDUCTION problem. The student never sees your code: it sees your message "
            f"and the outputs of f on the first {self.shown_pairs} of your inputs, and must write "
            "a function f that also gives the right output on the inputs it does not see. So "
            "choose inputs that pin the behaviour down, and write a message that makes the rule "
            "learnable from the examples without giving the code away."
        )

    def student_prompt(self, problem: Problem) -> list[Message]:
        shown = range(min(self.shown_pairs, len(problem.inputs)))
        text = (
            "Write a Python function f that does the following.\n\n"
            f"{fence('message', problem.message)}\n\n"
            "Examples (each line is a call and the value it returns):\n\n"
            f"{fence('', io_pairs(problem, shown))}\n\n"
            "Your f is also tested on other inputs of the same kind, so implement the rule, do "
            "not hard-code the examples. It must be pure: no printing, input or files. Give the "
            "complete function (with any imports and helpers it needs) in a final ```python "
            "block, shaped like this (f takes the arguments the examples pass it):\n\n"
            f"```python\ndef f({_parameters(problem.inputs[0])}):\n    return ...\n```"
        )
        return [Message("user", text)]

    def _judge(self, problem: Problem, answer: str, outcome: Outcome) -> Grade:
        if len(outcome.calls) < len(problem.inputs) or not all(c.ran for c in outcome.calls):
            return Grade(reward=0.0, reason=outcome_reason(outcome), status=outcome.status)
        for i, (call, gold) in enumerate(zip(outcome.calls, problem.outputs, strict=True), 1):
            if call.exception_type is not None:
                return Grade(
                    reward=0.0,
                    reason=f"input {i}: f raised {call.exception_type}: "
                    f"{(call.exception_message or '')[:200]}",
                    status=outcome.status,
                )
            if call.value is None:
                return Grade(
                    reward=0.0,
                    reason=f"input {i}: f returned a non-literal value",
                    status=outcome.status,
                )
            equal, reason = compare(call.value, gold)
            if not equal:
                return Grade(reward=0.0, reason=f"input {i}: {reason}", status=outcome.status)
        return Grade(reward=1.0, reason="ok", status=outcome.status)

    async def grade(
        self, problem: Problem, answers: Sequence[str | None], sandbox: Sandbox
    ) -> list[Grade]:
        self.check_gradable(problem)
        grades: list[Grade | None] = [None] * len(answers)
        unique: dict[str, list[int]] = {}
        for i, answer in enumerate(answers):
            if answer is None:
                grades[i] = no_answer()
            elif len(answer) > self.max_answer_chars:
                grades[i] = Grade(reward=0.0, reason="answer is too long", status="format")
            elif "f" not in (defined_functions(answer) or ()):
                reason = (
                    "answer is not valid Python"
                    if defined_functions(answer) is None
                    else "answer does not define `def f(...)` at top level"
                )
                grades[i] = Grade(reward=0.0, reason=reason, status="format")
            else:
                unique.setdefault(answer, []).append(i)

        async def one(code: str) -> None:
            job = Call(source=code, function="f", args=problem.inputs, limits=self.limits)
            grade = self._judge(problem, code, await sandbox.run(job))
            for i in unique[code]:
                grades[i] = grade

        # One child per distinct answer; the sandbox's own limiter spreads them over the zygotes
        # and lets answers of other problems graded at the same time share them fairly.
        async with anyio.create_task_group() as tg:
            for code in unique:
                tg.start_soon(one, code)
        return [g if g is not None else no_answer() for g in grades]


def _parameters(call_args: str) -> str:
    """Placeholder parameters for the answer's ``def f(...)`` with the arity of ``call_args``.

    A fixed example signature was copied by small students with the wrong number of
    parameters (every call then raised TypeError); neutral names keep the rule hidden.
    """
    try:
        args, kwargs = _literal.parse_args(call_args)
    except _literal.LiteralParseError:
        return "..."
    names = [chr(ord("a") + i) if i < 26 else f"x{i}" for i in range(len(args))]
    return ", ".join([*names, *kwargs])
