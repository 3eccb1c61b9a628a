"""Golden problems (tests/envs/golden/*.toml): hand-checked gold outputs and graded answers.

Each problem is validated in the real sandbox (its gold outputs must equal the hand-checked
ones), then every listed answer is graded in one batch and must get the listed reward. The
rejection file lists drafts validation must refuse, with the kind and a word of the reason.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from stepstones.envs import Deduplicator, get
from stepstones.records import Draft, Problem, Rejection

GOLDEN = Path(__file__).parent / "golden"


def _load(name: str, key: str) -> list[dict[str, Any]]:
    with (GOLDEN / name).open("rb") as fh:
        items: list[dict[str, Any]] = tomllib.load(fh)[key]
    return items


CASES = [
    pytest.param(env, case, id=f"{env}-{case['name']}")
    for env in ("deduction", "abduction", "induction", "fuzzing")
    for case in _load(f"{env}.toml", "problem")
]
REJECTIONS = [
    pytest.param(case, id=f"{case['env']}-{case['kind']}-{i}")
    for i, case in enumerate(_load("rejections.toml", "draft"))
]


def _draft(env: str, case: dict[str, Any]) -> Draft:
    return Draft(
        env=env,  # type: ignore[arg-type]
        code=case["code"].lstrip("\n"),
        inputs=tuple(case["inputs"]),
        message=case.get("message", ""),
        witness=case.get("witness"),
    )


@pytest.mark.anyio
@pytest.mark.parametrize(("env_name", "case"), CASES)
async def test_golden_problem(env_name: str, case: dict[str, Any], sandbox: Any) -> None:
    env = get(env_name)
    problem = await env.validate(_draft(env_name, case), sandbox, seed_id="golden")
    assert isinstance(problem, Problem), problem
    assert problem.outputs == tuple(case["outputs"])
    assert problem.seed_id == "golden"
    answers = [a.get("text") for a in case["answer"]]
    grades = await env.grade(problem, answers, sandbox)
    got = [
        (a.get("note", a.get("text")), g.reward, g.reason)
        for a, g in zip(case["answer"], grades, strict=True)
    ]
    want = [float(a["reward"]) for a in case["answer"]]
    assert [g.reward for g in grades] == want, got
    for grade in grades:
        assert grade.reason
        assert (grade.reason == "ok") == (grade.reward == 1.0)


@pytest.mark.anyio
@pytest.mark.parametrize("case", REJECTIONS)
async def test_golden_rejection(case: dict[str, Any], sandbox: Any) -> None:
    env = get(case["env"])
    result = await env.validate(_draft(case["env"], case), sandbox)
    assert isinstance(result, Rejection), result
    assert result.kind == case["kind"], result.reason
    assert case["reason"] in result.reason


@pytest.mark.anyio
async def test_duplicates_are_rejected_across_a_run(sandbox: Any) -> None:
    env = get("deduction")
    case = _load("deduction.toml", "problem")[0]
    dedup = Deduplicator()
    first = await env.validate(_draft("deduction", case), sandbox, dedup=dedup)
    assert isinstance(first, Problem)
    reformatted = _draft("deduction", case)
    reformatted = Draft(
        env="deduction",
        code='"""Docstring."""\n' + reformatted.code.replace("    ", "  "),
        inputs=tuple(i.replace(" ", "") for i in reformatted.inputs),
    )
    second = await env.validate(reformatted, sandbox, dedup=dedup)
    assert isinstance(second, Rejection)
    assert second.kind == "duplicate"
    assert len(dedup) == 1
    other = await env.validate(_draft("abduction", case), sandbox, dedup=dedup)
    assert other.kind == "format"  # type: ignore[union-attr]  # env mismatch: wrong draft env
