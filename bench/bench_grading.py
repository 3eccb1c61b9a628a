"""Grading speed: rewards/s per environment, the stepstones graders vs the naive approach.

Workload (the issue's): for each environment, 100 validated problems (built here from templates,
all distinct) with a batch of 32 distinct answers each, a mix of right and wrong. Every answer's
reward is known in advance (computed here by trusted reference code), and both approaches must
reproduce all of them or the run fails.

- **subject**: ``await env.grade(problem, answers, sandbox)`` for all 100 problems at once (a
  task group, as a reward server would). Deduction compares in the parent with no fork;
  abduction and fuzzing send one call job per problem; induction one call job per answer.
- **baseline (naive)**: one sandbox *script* per answer that evaluates the answer as code,
  e.g. ``assert f(ANSWER) == GOLD``; reward = the script exited 0. All 3,200 scripts go through
  ``run_batch`` (every zygote busy), so both sides get the same parallelism and isolation.

Medians of ``--repeats`` interleaved rounds (``_common.interleave``); ratios are subject/baseline
rewards per second, measured in the same run. Targets: deduction >= 20x, abduction and fuzzing
>= 5x; induction (one child per answer either way) is reported without a target.

Run: ``.venv/bin/python bench/bench_grading.py --json bench/results/grading.json``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Report, check, interleave, median, parse_args
from stepstones.envs import get
from stepstones.records import Draft, Env, Problem
from stepstones.sandbox import Sandbox, Script

N_ANSWERS = 32


@dataclass(frozen=True)
class Case:
    """One problem, its answers, the reward each must get, and the naive script per answer."""

    draft: Draft
    answers: tuple[str, ...]
    rewards: tuple[float, ...]
    naive: Callable[[Problem, str], str]


# --- problem families: code template + trusted reference used to know every reward ----------


def _deduction(i: int) -> Case:
    k, c, m = i % 7 + 2, i // 7, i % 5 + 2
    code = f"def f(xs):\n    return [x * {k} + {c} for x in xs if x % {m} != 0]\n"
    inputs = [f"[{i}, {i + 1}, {i + 2}, {i + 3}]", "[]", "[1]", f"[{m}, {2 * m}]", "[5, 6, 7]"]
    xs = [i, i + 1, i + 2, i + 3]
    gold = [x * k + c for x in xs if x % m != 0]
    answers, rewards = [], []
    for j in range(N_ANSWERS):
        if j % 4 == 0:  # right, written in different layouts
            answers.append("[" + " " * j + ", ".join(map(str, gold)) + "]")
            rewards.append(1.0)
        else:
            answers.append(repr([g + j for g in gold] + [j]))
            rewards.append(0.0)

    def naive(problem: Problem, answer: str) -> str:
        return f"{problem.code}\nassert f({problem.inputs[0]}) == ({answer})\n"

    return Case(
        Draft(env="deduction", code=code, inputs=tuple(inputs)),
        tuple(answers),
        tuple(rewards),
        naive,
    )


def _abduction(i: int) -> Case:
    k, c, m = i % 11 + 3, i, 97 + i % 13
    code = f"def f(n):\n    return (n * {k} + {c}) % {m}\n"
    inputs = ["5", "0", "1", "2", "3"]
    gold = (5 * k + c) % m
    answers, rewards = [], []
    for n in range(N_ANSWERS):
        # every 4th is right by construction (same residue as 5); the others as they fall
        cand = n * m + 5 if n % 4 == 0 else -(n + 1)
        answers.append(str(cand))
        rewards.append(1.0 if (cand * k + c) % m == gold else 0.0)

    def naive(problem: Problem, answer: str) -> str:
        return f"{problem.code}\nassert f({answer}) == {problem.outputs[0]}\n"

    return Case(
        Draft(env="abduction", code=code, inputs=tuple(inputs)),
        tuple(answers),
        tuple(rewards),
        naive,
    )


def _fuzzing(i: int) -> Case:
    t = i % 20 + 1
    code = (
        f"def f(x):\n    return x if x > {t} else -x\n\n"
        "def pre_test_f(x):\n    return isinstance(x, int) and -1000 <= x <= 1000\n\n"
        "def test_f(x):\n    return f(x) == abs(x)\n"
    )
    inputs = ["-5", "-1", "0", str(t + 1), str(t + 10)]
    answers, rewards = [], []
    for j in range(N_ANSWERS):
        x = 5000 + j if j % 8 == 7 else j - 8
        answers.append(str(x))
        rewards.append(1.0 if 0 < x <= t else 0.0)

    def naive(problem: Problem, answer: str) -> str:
        return (
            f"{problem.code}\nx = ({answer},)\nassert pre_test_f(*x)\n"
            "try:\n    ok = test_f(*x)\nexcept Exception:\n    ok = False\nassert not ok\n"
        )

    return Case(
        Draft(env="fuzzing", code=code, inputs=tuple(inputs), witness=str(t)),
        tuple(answers),
        tuple(rewards),
        naive,
    )


def _induction(i: int) -> Case:
    k = i % 9 + 2
    code = f"def f(xs):\n    return [x % {k} for x in xs if x > {i}]\n"
    inputs = [f"[{i + 1}, {i + 5}]", "[]", f"[{i}, {i + 2}]", f"[{i + 3}]", f"[{i + 7}, 1]"]
    answers, rewards = [], []
    for j in range(N_ANSWERS):
        if j % 2 == 0:
            answers.append(f"def f(xs):\n    return [x % {k} for x in xs if x > {i}]  # {j}\n")
            rewards.append(1.0)
        else:
            answers.append(f"def f(xs):\n    return [x % {k + j} for x in xs if x >= {i}]\n")
            rewards.append(0.0)

    def naive(problem: Problem, answer: str) -> str:
        checks = "".join(
            f"assert f({x}) == {y}\n" for x, y in zip(problem.inputs, problem.outputs, strict=True)
        )
        return f"{answer}\n{checks}"

    return Case(
        Draft(env="induction", code=code, inputs=tuple(inputs), message="m"),
        tuple(answers),
        tuple(rewards),
        naive,
    )


FAMILIES: dict[Env, Callable[[int], Case]] = {
    "deduction": _deduction,
    "abduction": _abduction,
    "fuzzing": _fuzzing,
    "induction": _induction,
}
TARGETS: dict[Env, float | None] = {
    "deduction": 20.0,
    "abduction": 5.0,
    "fuzzing": 5.0,
    "induction": None,
}


async def _validate_all(env_name: Env, cases: list[Case], sb: Sandbox) -> list[Problem]:
    env = get(env_name)
    problems: list[Problem] = []
    for case in cases:
        result = await env.validate(case.draft, sb)
        check(isinstance(result, Problem), f"{env_name}: template problem rejected: {result}")
        assert isinstance(result, Problem)
        problems.append(result)
    return problems


def _subject(env_name: Env, problems: list[Problem], cases: list[Case], sb: Sandbox) -> None:
    env = get(env_name)
    got: list[list[float]] = [[] for _ in problems]

    async def one(k: int) -> None:
        grades = await env.grade(problems[k], cases[k].answers, sb)
        got[k] = [g.reward for g in grades]

    async def all_problems() -> None:
        async with anyio.create_task_group() as tg:
            for k in range(len(problems)):
                tg.start_soon(one, k)

    anyio.run(all_problems)
    for k, case in enumerate(cases):
        check(tuple(got[k]) == case.rewards, f"{env_name} problem {k}: stepstones rewards wrong")


def _naive(env_name: Env, problems: list[Problem], cases: list[Case], sb: Sandbox) -> None:
    jobs = [
        Script(source=case.naive(problem, answer))
        for problem, case in zip(problems, cases, strict=True)
        for answer in case.answers
    ]
    outcomes = sb.run_batch(jobs)
    want = [r for case in cases for r in case.rewards]
    got = [1.0 if o.ok else 0.0 for o in outcomes]
    check(got == want, f"{env_name}: naive rewards wrong")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(__doc__ or "", argv)
    report = Report("grading", args)
    n_problems = 20 if args.quick else 100
    try:
        with Sandbox() as sb:
            report.metric("zygotes", sb.workers)
            report.metric("problems_per_env", n_problems)
            report.metric("answers_per_problem", N_ANSWERS)
            for env_name, family in FAMILIES.items():
                cases = [family(i) for i in range(n_problems)]
                problems = anyio.run(_validate_all, env_name, cases, sb)
                n_rewards = n_problems * N_ANSWERS
                times = interleave(
                    {
                        "subject": lambda e=env_name, p=problems, c=cases: _subject(e, p, c, sb),
                        "naive": lambda e=env_name, p=problems, c=cases: _naive(e, p, c, sb),
                    },
                    repeats=args.repeats,
                )
                subject_rps = n_rewards / median(times["subject"])
                naive_rps = n_rewards / median(times["naive"])
                report.metric(f"{env_name}_rewards_per_s", subject_rps)
                report.metric(f"{env_name}_naive_rewards_per_s", naive_rps)
                report.ratio(
                    f"{env_name}_vs_naive", subject_rps, naive_rps, target=TARGETS[env_name]
                )
            report.note(
                "answers are all distinct within a problem (no credit for deduplication); "
                "naive = one sandbox script per answer through run_batch (same zygotes)"
            )
    except Exception as exc:
        return report.finish(exc)
    return report.finish()


if __name__ == "__main__":
    raise SystemExit(main())
