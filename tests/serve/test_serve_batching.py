"""Answers to one problem from concurrent requests are graded together (real graders and
sandbox), each request still getting its own verdicts."""

from __future__ import annotations

import anyio
import pytest
from _prom import sample
from _serve_problems import ANSWERS, make_problem

from stepstones import records
from stepstones.records import Env, Problem
from stepstones.sandbox import Sandbox
from stepstones.serve import Rewarder
from stepstones.serve._batcher import Batcher

pytestmark = pytest.mark.anyio


async def test_concurrent_requests_for_one_problem_share_grading_calls(
    sandbox: Sandbox, problems: dict[Env, Problem]
) -> None:
    rewarder = Rewarder(sandbox, batch_window_s=0.05)
    got: dict[tuple[Env, int], float] = {}

    async def request(env: Env, i: int) -> None:
        label = records.encode_json(problems[env]).decode()
        (verdict,) = await rewarder.score([ANSWERS[env][i % 2]], [label])
        got[(env, i)] = verdict.reward

    envs: list[Env] = ["abduction", "fuzzing", "deduction"]
    async with anyio.create_task_group() as tg:
        for env in envs:
            for i in range(8):  # a GRPO group of 8 samples per problem
                tg.start_soon(request, env, i)
    assert got == {(env, i): 1.0 if i % 2 == 0 else 0.0 for env in envs for i in range(8)}
    assert rewarder._batcher.calls == 3  # one grading call per problem, not 24
    m = rewarder.metrics
    for env in envs:
        assert m.value("stepstones_grade_calls_total", env=env) == 1
        # 8 answers each, 2 distinct (right and wrong): identical answers are graded once.
        assert m.value("stepstones_graded_answers_total", env=env) == 2
    assert sample(m.render(), "stepstones_graded_answers_total", env="fuzzing") == 2


async def test_max_batch_splits_and_zero_window_still_works(
    sandbox: Sandbox, problems: dict[Env, Problem]
) -> None:
    rewarder = Rewarder(sandbox, batch_window_s=0.0, max_batch=3)
    label = records.encode_json(problems["abduction"]).decode()
    results: list[float] = []

    async def request(i: int) -> None:
        (verdict,) = await rewarder.score([ANSWERS["abduction"][i % 2]], [label])
        results.append(verdict.reward)

    async with anyio.create_task_group() as tg:
        for i in range(10):
            tg.start_soon(request, i)
    assert sorted(results) == [0.0] * 5 + [1.0] * 5
    assert 4 <= rewarder._batcher.calls <= 10


class _Window:
    """A batch window the test closes (injected as the batcher's sleep): no clock involved."""

    def __init__(self) -> None:
        self.closed = anyio.Event()

    async def __call__(self, seconds: float) -> None:
        await self.closed.wait()


async def test_a_follower_joins_the_leaders_batch(
    sandbox: Sandbox, problems: dict[Env, Problem]
) -> None:
    rewarder = Rewarder(sandbox)
    window = _Window()
    rewarder._batcher.sleep = window
    label = records.encode_json(problems["deduction"]).decode()
    got: dict[str, float] = {}

    async def request(name: str, answer: str) -> None:
        (verdict,) = await rewarder.score([answer], [label])
        got[name] = verdict.reward

    async with anyio.create_task_group() as tg:
        tg.start_soon(request, "leader", ANSWERS["deduction"][0])
        await anyio.wait_all_tasks_blocked()  # the leader holds the open batch
        tg.start_soon(request, "follower", ANSWERS["deduction"][1])
        await anyio.wait_all_tasks_blocked()  # the follower waits on the leader's batch
        (batch,) = rewarder._batcher._open.values()
        assert len(batch.answers) == 2  # it joined
        window.closed.set()
    assert got == {"leader": 1.0, "follower": 0.0}
    assert rewarder._batcher.calls == 1  # one call graded both
    assert rewarder.metrics.value("stepstones_graded_answers_total", env="deduction") == 2


async def test_a_cancelled_follower_does_not_disturb_the_batch() -> None:
    problem = make_problem()
    graded: list[list[str]] = []
    window = _Window()

    async def grade(problem: Problem, answers: list[str]) -> list[str]:
        graded.append(list(answers))
        return [a.upper() for a in answers]

    batcher: Batcher[str, str] = Batcher(grade, sleep=window)
    results: list[list[str]] = []

    async def leader() -> None:
        results.append(await batcher.submit(problem, ["a"]))

    async def follower(scope: anyio.CancelScope) -> None:
        with scope:
            await batcher.submit(problem, ["b"])
        results.append(["follower cancelled"])

    scope = anyio.CancelScope()
    async with anyio.create_task_group() as tg:
        tg.start_soon(leader)
        await anyio.wait_all_tasks_blocked()
        tg.start_soon(follower, scope)
        await anyio.wait_all_tasks_blocked()  # the follower's answer is in the open batch
        scope.cancel()
        await anyio.wait_all_tasks_blocked()
        window.closed.set()
    assert graded == [["a", "b"]]  # its answer was graded with the leader's all the same
    assert sorted(results) == [["A"], ["follower cancelled"]]
    assert batcher.calls == 1


async def test_one_request_larger_than_max_batch_is_graded_in_bounded_calls() -> None:
    problem = make_problem()
    graded: list[list[str]] = []

    async def grade(problem: Problem, answers: list[str]) -> list[str]:
        graded.append(list(answers))
        return [a.upper() for a in answers]

    batcher: Batcher[str, str] = Batcher(grade, window_s=0.0, max_batch=3)
    answers = [chr(ord("a") + i) for i in range(8)]
    assert await batcher.submit(problem, answers) == [a.upper() for a in answers]
    assert sorted(len(g) for g in graded) == [2, 3, 3]  # never more than max_batch in one call
    assert sorted(a for g in graded for a in g) == answers


def test_batcher_rejects_bad_settings() -> None:
    async def grade(problem: Problem, answers: list[str | None]) -> list[float]:
        return [0.0] * len(answers)

    with pytest.raises(ValueError, match="window"):
        Batcher(grade, window_s=-1)
    with pytest.raises(ValueError, match="max_batch"):
        Batcher(grade, max_batch=0)


async def test_programs_differing_only_in_comments_and_layout_run_once(
    sandbox: Sandbox, problems: dict[Env, Problem]
) -> None:
    rewarder = Rewarder(sandbox)
    label = records.encode_json(problems["induction"]).decode()
    right = "```python\ndef f(x):\n    return 2 * x + 1\n```"
    same = "```python\n# my answer\ndef f(x):\n\n    return (2 * x) + 1  # doubled\n```"
    other = "```python\ndef f(y):\n    return 2 * y + 1\n```"  # a different tree: runs too
    wrong = "```python\ndef f(x):\n    return x\n```"
    broken = "```python\ndef f(x) return\n```"
    verdicts = await rewarder.score([right, same, other, wrong, broken, same], [label] * 6)
    assert [v.reward for v in verdicts] == [1.0, 1.0, 1.0, 0.0, 0.0, 1.0]
    assert rewarder.metrics.value("stepstones_graded_answers_total", env="induction") == 4
