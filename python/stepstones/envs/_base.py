"""The interface every environment (induction, abduction, deduction, fuzzing) implements.

An environment owns everything specific to one kind of problem: the teacher prompts, the parser of
the teacher's reply, validation of a draft in the sandbox, the student prompt, the answer
extractor and the grader. The pipeline, the exports and the reward server only talk to this
interface, and look environments up by name with :func:`stepstones.envs.get`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from stepstones.records import Draft, Env, Grade, Message, Problem, Rejection, Seed, Summary

if TYPE_CHECKING:
    from stepstones.envs._dedup import Deduplicator
    from stepstones.sandbox import Sandbox

__all__ = ["Environment", "Instruction", "Stage"]

#: What the teacher is asked to do with the previous problem in an adaptive chain.
Instruction = Literal["harder", "easier", "sibling"]
#: Stages of a top-down chain: a hard problem first, then a medium and an easy variant of it.
Stage = Literal["hard", "medium", "easy"]


@runtime_checkable
class Environment(Protocol):
    """One environment. Implementations are stateless and safe to share between tasks."""

    name: Env

    # --- teacher side -------------------------------------------------------------------------
    def seed_prompt(self, seed: Seed, *, feedback: str | None = None) -> list[Message]:
        """Turn 1: the environment's rules plus the seed ("build on the core logic of this").

        ``feedback`` carries the reason the previous reply was rejected, if it was.
        """
        ...

    def mutate_prompt(
        self,
        problem: Problem,
        summary: Summary,
        instruction: Instruction,
        *,
        feedback: str | None = None,
        target: tuple[float, float] = (0.35, 0.65),
    ) -> list[Message]:
        """Adapt a measured problem: previous code, I/O pairs, message, the student summary,
        the progression instruction for its pass rate (aiming at the pass-rate band ``target``),
        and the reminder to stay standalone."""
        ...

    def top_down_prompt(
        self,
        seed: Seed,
        stage: Stage,
        previous: Problem | None,
        *,
        feedback: str | None = None,
    ) -> list[Message]:
        """Top-down chains: a hard problem from the seed, then medium/easy variants of it."""
        ...

    def parse(self, reply: str, *, reasoning: str = "") -> Draft | Rejection:
        """Parse a teacher reply tolerantly; a reply that cannot be parsed is a Rejection."""
        ...

    async def validate(
        self,
        draft: Draft,
        sandbox: Sandbox,
        *,
        seed_id: str | None = None,
        parent_id: str | None = None,
        dedup: Deduplicator | None = None,
    ) -> Problem | Rejection:
        """Run the reference code on every input in the sandbox; gold outputs come from there.

        With ``dedup``, a problem already in it is rejected as a duplicate; a new one is added.
        """
        ...

    # --- student side -------------------------------------------------------------------------
    def student_prompt(self, problem: Problem) -> list[Message]:
        """What the student sees for this problem."""
        ...

    def extract(self, completion: str) -> str | None:
        """The answer in a student completion (last fenced block of the right kind), or None."""
        ...

    async def grade(
        self, problem: Problem, answers: Sequence[str | None], sandbox: Sandbox
    ) -> list[Grade]:
        """Binary rewards for many extracted answers to one problem (None = no answer: 0.0),
        with the fork economy of docs/design.md §3."""
        ...
