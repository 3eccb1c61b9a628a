"""The fork economy of docs/design.md §3, counted on the real sandbox, and grading edge cases."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from stepstones.envs import BannedConstructs, get
from stepstones.records import Draft, Problem
from stepstones.sandbox import Call, Job, Limits, Outcome


class Counting:
    """The real sandbox, with every job it is given recorded (an instrument, not a stand-in)."""

    def __init__(self, sandbox: Any) -> None:
        self.sandbox = sandbox
        self.jobs: list[Job] = []

    async def run(self, job: Job) -> Outcome:
        self.jobs.append(job)
        outcome: Outcome = await self.sandbox.run(job)
        return outcome

    async def run_many(self, jobs: Sequence[Job]) -> list[Outcome]:
        self.jobs.extend(jobs)
        outcomes: list[Outcome] = await self.sandbox.run_many(jobs)
        return outcomes

    async def check_determinism(self, job: Job) -> tuple[bool, Outcome, Outcome]:
        self.jobs.extend([job, job])
        result: tuple[bool, Outcome, Outcome] = await self.sandbox.check_determinism(job)
        return result


async def _problem(env: str, sandbox: Any, code: str, inputs: Sequence[str], **kw: Any) -> Problem:
    result = await get(env).validate(Draft(env=env, code=code, inputs=tuple(inputs), **kw), sandbox)  # type: ignore[arg-type]
    assert isinstance(result, Problem), result
    return result


async def _problem_with(env: Any, sandbox: Any, code: str, inputs: Sequence[str]) -> Problem:
    result = await env.validate(Draft(env=env.name, code=code, inputs=tuple(inputs)), sandbox)
    assert isinstance(result, Problem), result
    return result


DOUBLE = "def f(n):\n    if n == 7:\n        while True:\n            pass\n    return n * 2\n"


@pytest.mark.anyio
async def test_deduction_needs_no_fork(sandbox: Any) -> None:
    problem = await _problem("deduction", sandbox, DOUBLE, ["3", "1", "2", "4", "5"])
    counting = Counting(sandbox)
    answers = ["6", "6.0", "5", None, "x" * 200_000, "__import__('os')"] * 10
    grades = await get("deduction").grade(problem, answers, counting)  # type: ignore[arg-type]
    assert counting.jobs == []
    assert [g.reward for g in grades[:6]] == [1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert grades[3].status == "format" and grades[4].status == "format"


@pytest.mark.anyio
async def test_abduction_one_child_for_all_answers(sandbox: Any) -> None:
    problem = await _problem("abduction", sandbox, DOUBLE, ["3", "1", "2", "4", "5"])
    counting = Counting(sandbox)
    answers = [str(n) for n in range(8, 40)] + ["3"] * 8 + ["'a'", "nope(", None]
    grades = await get("abduction").grade(problem, answers, counting)  # type: ignore[arg-type]
    assert len(counting.jobs) == 1
    (job,) = counting.jobs
    assert isinstance(job, Call)
    assert len(job.args) == 34  # 32 numbers, '3' and 'a'; duplicates and non-literals never sent
    assert [g.reward for g in grades] == [1.0 if a == "3" else 0.0 for a in answers]
    assert grades[-3].reason == "f(answer) got str 'aa', expected int 6"
    assert grades[-2].status == "format"


@pytest.mark.anyio
async def test_abduction_rerun_after_timeout(sandbox: Any) -> None:
    problem = await _problem("abduction", sandbox, DOUBLE, ["3", "1", "2", "4", "5"])
    counting = Counting(sandbox)
    answers = ["3", "1", "7", "3.0", "n=3", "8"]
    env = type(get("abduction"))(limits=Limits(call_cpu_time_s=0.5, wall_time_s=120.0))
    grades = await env.grade(problem, answers, counting)  # type: ignore[arg-type]
    assert len(counting.jobs) == 2  # the batch, then the calls after the one that timed out
    assert isinstance(counting.jobs[1], Call)
    assert counting.jobs[1].args == ("3.0", "n=3", "8")
    assert [g.reward for g in grades] == [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    assert grades[2].status == "timeout"


@pytest.mark.anyio
async def test_fuzzing_one_child_for_all_answers(sandbox: Any) -> None:
    code = (
        "def f(x):\n    return x if x > 3 else -x\n\n"
        "def pre_test_f(x):\n    return isinstance(x, int)\n\n"
        "def test_f(x):\n    assert f(x) == abs(x)\n    return True\n"
    )
    problem = await _problem("fuzzing", sandbox, code, ["-1", "0", "4", "5", "-9"], witness="2")
    counting = Counting(sandbox)
    answers = [str(n) for n in range(-5, 10)] + ["'x'"]
    grades = await get("fuzzing").grade(problem, answers, counting)  # type: ignore[arg-type]
    assert len(counting.jobs) == 1
    assert [g.reward for g in grades] == [1.0 if a in ("1", "2", "3") else 0.0 for a in answers]
    assert grades[-1].reason == "pre_test_f returned a falsy value"


@pytest.mark.anyio
async def test_fuzzing_arguments_are_copied_for_each_function(sandbox: Any) -> None:
    # pre_test_f empties the list; test_f must still see the original argument.
    code = (
        "def f(xs):\n    return len(xs)\n\n"
        "def pre_test_f(xs):\n    ok = isinstance(xs, list)\n    xs.clear()\n    return ok\n\n"
        "def test_f(xs):\n    return f(xs) != 3\n"
    )
    problem = await _problem(
        "fuzzing",
        sandbox,
        code,
        ["[]", "[1]", "[1, 2]", "[9, 9, 9, 9]", "[0, 0]"],
        witness="[1, 2, 3]",
    )
    grades = await get("fuzzing").grade(problem, ["[1, 2, 3]", "[1]"], sandbox)
    assert [g.reward for g in grades] == [1.0, 0.0]


@pytest.mark.anyio
async def test_induction_one_child_per_distinct_answer(sandbox: Any) -> None:
    code = "def f(x):\n    return x + 1\n"
    problem = await _problem(
        "induction", sandbox, code, ["1", "2", "3", "4", "5"], message="add one"
    )
    counting = Counting(sandbox)
    right = "def f(x):\n    return 1 + x\n"
    wrong = "def f(x):\n    return x + 2\n"
    answers = [
        right,
        wrong,
        right,
        None,
        "f = 1\n",
        "def f(x):\n    return x + 1 if x < 4 else 0\n",
    ]
    grades = await get("induction").grade(problem, answers, counting)  # type: ignore[arg-type]
    assert len(counting.jobs) == 3  # right, wrong, the held-out cheat; no job for the rest
    assert all(isinstance(j, Call) and len(j.args) == 5 for j in counting.jobs)
    assert [g.reward for g in grades] == [1.0, 0.0, 1.0, 0.0, 0.0, 0.0]
    assert grades[5].reason.startswith("input 4:")


@pytest.mark.anyio
async def test_validation_runs_twice_with_different_hash_seeds(sandbox: Any) -> None:
    counting = Counting(sandbox)
    draft = Draft(
        env="deduction",
        code="def f(s):\n    return hash(s) % 1000\n",
        inputs=("'a'", "'b'", "'c'", "'d'", "'e'"),
    )
    result = await get("deduction").validate(draft, counting)  # type: ignore[arg-type]
    assert result.kind == "nondeterministic"  # type: ignore[union-attr]
    assert len(counting.jobs) == 2


SLOW = "def f(n):\n    s = 0\n    for i in range(6_000_000):\n        s += i\n    return n * 2\n"


@pytest.mark.anyio
async def test_whole_job_budget_does_not_blame_an_innocent_call(sandbox: Any) -> None:
    # Each call takes about 0.2 s of CPU: nine distinct answers overrun a 1 s job CPU budget.
    # Wall deadlines are generous so that only the CPU budget can end a job on a busy machine.
    roomy = type(get("abduction"))(limits=Limits(wall_time_s=120.0, cpu_time_s=30.0))
    problem = await _problem_with(roomy, sandbox, SLOW, ["3", "1", "2", "4", "5"])
    env = type(get("abduction"))(
        limits=Limits(wall_time_s=120.0, cpu_time_s=1.0, call_cpu_time_s=1.0)
    )
    counting = Counting(sandbox)
    answers = ["3", "1", "n=3", "4", "5", "6", "3", "7", "8", "9"]
    grades = await env.grade(problem, answers, counting)  # type: ignore[arg-type]
    assert [g.reward for g in grades] == [1.0 if a in ("3", "n=3") else 0.0 for a in answers]
    assert all(g.status == "ok" for g in grades), grades
    assert len(counting.jobs) >= 2  # the budget ran out at least once, and nobody was charged


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("prod", "Add `from math import prod` at the top of the code."),
        ("Counter", "Add `from collections import Counter` at the top of the code."),
        ("math", "Add `import math` at the top of the code."),
        ("helper_nobody_wrote", "Define helper_nobody_wrote in the code, or import it."),
        # fractions imports sys, but sys is banned: never "from fractions import sys".
        ("sys", "The module sys is not allowed (f must be pure and deterministic): do without it."),
        ("datetime", "(f must be pure and deterministic): do without it."),
        ("reduce", "Add `from functools import reduce` at the top of the code."),
    ],
)
async def test_an_undefined_name_gets_a_fix_in_the_rejection(
    sandbox: Any, name: str, hint: str
) -> None:
    call = f"{name}.sqrt(x)" if name == "math" else f"{name}([x])"
    code = f"def f(x):\n    return {call}\n"
    rejection = await get("deduction").validate(
        Draft(env="deduction", code=code, inputs=("1", "2", "3", "4", "5")), sandbox
    )
    assert not isinstance(rejection, Problem)
    assert rejection.kind == "error"
    assert f"name '{name}' is not defined" in rejection.reason
    assert rejection.reason.endswith(hint)


@pytest.mark.anyio
async def test_the_hint_never_suggests_a_module_the_environment_bans(sandbox: Any) -> None:
    env = type(get("deduction"))(banned=BannedConstructs(modules=frozenset({"math"})))
    code = "def f(x):\n    return prod([x])\n"
    rejection = await env.validate(
        Draft(env="deduction", code=code, inputs=("1", "2", "3", "4", "5")), sandbox
    )
    assert not isinstance(rejection, Problem)
    assert rejection.reason.endswith(
        "The module math is not allowed (f must be pure and deterministic): do without it."
    )


@pytest.mark.anyio
async def test_the_import_the_hint_names_makes_the_code_valid(sandbox: Any) -> None:
    code = "from math import prod\n\ndef f(xs):\n    return prod(xs)\n"
    problem = await _problem("deduction", sandbox, code, ["[1]", "[2, 3]", "[4]", "[]", "[5, 5]"])
    assert problem.outputs == ("1", "6", "4", "1", "25")
