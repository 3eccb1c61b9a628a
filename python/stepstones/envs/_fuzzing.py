"""Fuzzing: the student sees ``f``, ``pre_test_f`` and ``test_f`` and finds a failing input.

**Reward rule.** For an answer ``x`` (an argument list), reward 1 iff ``pre_test_f(*x)`` returns
a truthy value and then ``test_f(*x)`` *fails*: returns a falsy value or raises an
:class:`Exception`. ``pre_test_f`` raising, or returning a falsy value, means ``x`` is not a
valid input (reward 0). Each function receives its own deep copy of the arguments, so one cannot
mutate what the other sees. A timeout or crash of the child is reward 0 (nothing was shown to
fail). The verdict is computed by a small harness function appended to the validated problem code
and returned over the sandbox's result channel; all answers of a problem run in ONE call job.

**Validation.** Every teacher input must be valid and *pass* ``test_f`` (so the test is not
trivially failing), and the teacher's witness must be valid and *fail* ``test_f`` (so a bug
exists); the verdicts must agree between two runs with different hash seeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from stepstones import _literal
from stepstones.envs._core import BaseEnvironment
from stepstones.envs._grading import grade_data_answers, outcome_reason
from stepstones.envs._prompts import fence, io_pairs
from stepstones.records import Env, Grade, Message, Problem, RejectionKind
from stepstones.sandbox._types import Call, CallResult

if TYPE_CHECKING:
    from stepstones.sandbox import Sandbox

__all__ = ["HARNESS", "VERDICT_FUNCTION", "Fuzzing"]

VERDICT_FUNCTION = "__stepstones_fuzz_verdict__"

#: Appended after the problem code; returns ``(verdict, why)`` with verdict in
#: "invalid" (pre_test_f false or raised), "passed" (test_f truthy), "found" (test_f failed).
HARNESS = f"""

def {VERDICT_FUNCTION}(*args, **kwargs):
    import copy as _copy
    try:
        valid = bool(pre_test_f(*_copy.deepcopy(args), **_copy.deepcopy(kwargs)))
    except Exception as exc:
        return ("invalid", "pre_test_f raised " + type(exc).__name__)
    if not valid:
        return ("invalid", "pre_test_f returned a falsy value")
    try:
        passed = bool(test_f(*args, **kwargs))
    except Exception as exc:
        return ("found", "test_f raised " + type(exc).__name__)
    return ("passed", "test_f passed") if passed else ("found", "test_f returned a falsy value")
"""


def _verdict(call: CallResult) -> tuple[str, str]:
    if call.exception_type is not None:
        return "error", f"the harness raised {call.exception_type}"
    try:
        value = _literal.parse(call.value or "")
    except _literal.LiteralParseError:
        return "error", "the harness returned no verdict"
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, str) for v in value):
        return value[0], value[1]
    return "error", "the harness returned no verdict"


class Fuzzing(BaseEnvironment):
    """Find ``x`` with ``pre_test_f(x)`` truthy and ``test_f(x)`` failing (see module docstring)."""

    name: ClassVar[Env] = "fuzzing"
    functions: ClassVar[tuple[str, ...]] = ("f", "pre_test_f", "test_f")
    answer_kind: ClassVar[str] = "input"
    needs_witness: ClassVar[bool] = True
    # The student breaks test_f, never reproduces f's outputs: a constant f can still hide a bug.
    constant_outputs_allowed: ClassVar[bool] = True

    def task(self) -> str:
        return (
            "Write a FUZZING problem. Write three functions taking the same arguments: f, an "
            "implementation with a subtle bug that shows only on some inputs; pre_test_f, which "
            "returns True when the arguments are valid inputs for f; and test_f, which returns "
            "True when f behaves correctly on them (for example by comparing f with a correct "
            "reference you write inside test_f). The student sees all three functions and must "
            "find valid arguments on which test_f fails. All 5 inputs must be valid and must "
            "PASS test_f; the witness must be valid and must FAIL test_f."
        )

    def student_prompt(self, problem: Problem) -> list[Message]:
        text = (
            "Here are three Python functions:\n\n"
            f"{fence('python', problem.code)}\n\n"
            "On these calls f is correct:\n\n"
            f"{fence('', io_pairs(problem))}\n\n"
            "Find arguments x such that pre_test_f(x) returns True and test_f(x) fails (returns "
            "a false value or raises an exception). Reason briefly (a few short lines), then give "
            "the arguments in a final ```input block, written exactly as inside the parentheses "
            "of a call, using only plain Python literals, for example:\n\n"
            "```input\n[3, 1, 2], 5\n```"
        )
        return [Message("user", text)]

    async def check_problem(
        self, problem: Problem, sandbox: Sandbox
    ) -> tuple[RejectionKind, str] | None:
        """Inputs must be valid and pass test_f; the witness must be valid and fail it."""
        if problem.witness is None:
            return "witness", "No witness found! Add a ```witness block."
        args = (*problem.inputs, problem.witness)
        job = Call(
            source=problem.code + HARNESS, function=VERDICT_FUNCTION, args=args, limits=self.limits
        )
        _, first, second = await sandbox.check_determinism(job)
        verdicts: list[list[tuple[str, str]]] = []
        for outcome in (first, second):
            if len(outcome.calls) < len(args) or not all(c.ran for c in outcome.calls):
                where = next((i for i, c in enumerate(outcome.calls, 1) if not c.ran), len(args))
                what = f"input {where}" if where <= len(problem.inputs) else "the witness"
                return "timeout", (
                    f"checking {what} with pre_test_f and test_f failed: "
                    f"{outcome_reason(outcome)}; keep all three functions fast."
                )
            verdicts.append([_verdict(c) for c in outcome.calls])
        if [v for v, _ in verdicts[0]] != [v for v, _ in verdicts[1]]:
            return "nondeterministic", (
                "pre_test_f/test_f give different verdicts in two runs with different hash "
                "seeds; make them deterministic."
            )
        for i, (verdict, why) in enumerate(verdicts[0][:-1], 1):
            if verdict != "passed":
                return "witness", f"Input {i} must satisfy pre_test_f and pass test_f, but {why}."
        verdict, why = verdicts[0][-1]
        if verdict != "found":
            return "witness", (
                f"The witness must satisfy pre_test_f and make test_f fail, but {why}."
            )
        return None

    async def grade(
        self, problem: Problem, answers: Sequence[str | None], sandbox: Sandbox
    ) -> list[Grade]:
        self.check_gradable(problem)

        def judge(call: CallResult) -> Grade:
            verdict, why = _verdict(call)
            if verdict == "found":
                return Grade(reward=1.0, reason="ok")
            return Grade(reward=0.0, reason=why)

        return await grade_data_answers(
            sandbox,
            answers,
            source=problem.code + HARNESS,
            function=VERDICT_FUNCTION,
            limits=self.limits,
            max_answer_chars=self.max_answer_chars,
            judge=judge,
        )
