"""BaseEnvironment is abstract: a subclass that forgets part of the environment's contract
cannot be instantiated, and says which part."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from stepstones.envs import BaseEnvironment, get
from stepstones.records import Grade, Message, Problem


class NoGrader(BaseEnvironment):
    name = "deduction"
    answer_kind = "output"

    def task(self) -> str:
        return "predict the output"

    def student_prompt(self, problem: Problem) -> list[Message]:
        return [Message("user", problem.code)]


def test_a_subclass_without_a_grader_cannot_be_made() -> None:
    with pytest.raises(TypeError, match=r"abstract method.*grade"):
        NoGrader()  # type: ignore[abstract]


def test_a_complete_subclass_can_be_made() -> None:
    class Complete(NoGrader):
        async def grade(
            self, problem: Problem, answers: Sequence[str | None], sandbox: object
        ) -> list[Grade]:
            return [Grade(reward=0.0, reason="never") for _ in answers]

    assert Complete().task() == "predict the output"
    for name in ("induction", "abduction", "deduction", "fuzzing"):
        assert isinstance(get(name), BaseEnvironment)
