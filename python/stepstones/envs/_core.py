"""What the four environments share: configuration, teacher prompts, parsing, validation.

Each environment subclasses :class:`BaseEnvironment` and supplies its task description (for the
teacher), its student prompt and its grader; everything else follows the same recipe.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from stepstones.envs import _prompts
from stepstones.envs._banned import BannedConstructs
from stepstones.envs._blocks import blocks, split_reasoning
from stepstones.envs._dedup import Deduplicator
from stepstones.envs._parse import defined_functions, normalize_input, parse_reply
from stepstones.errors import ConfigError
from stepstones.records import (
    Draft,
    Env,
    Grade,
    Message,
    Problem,
    Rejection,
    RejectionKind,
    Seed,
    Summary,
)
from stepstones.sandbox._types import Limits

if TYPE_CHECKING:
    from stepstones.envs._base import Instruction, Stage
    from stepstones.sandbox import Sandbox

__all__ = ["BaseEnvironment"]


class BaseEnvironment(ABC):
    """Shared behaviour of an environment; configuration is fixed at construction.

    A subclass must define :meth:`task`, :meth:`student_prompt` and :meth:`grade` (abstract:
    a subclass that forgets one cannot be instantiated).

    n_inputs: how many ``input`` blocks the teacher must write (the paper: 5).
    banned: constructs that make reference code invalid.
    limits: sandbox limits for validation and grading jobs (None: the sandbox's defaults).
    max_output_chars: longest canonical gold output accepted; longer ones reject the draft
        (students cannot be asked to reproduce megabytes).
    max_answer_chars: longest answer graded; longer answers get reward 0 without running.
    """

    name: ClassVar[Env]
    functions: ClassVar[tuple[str, ...]] = ("f",)
    answer_kind: ClassVar[str]
    needs_message: ClassVar[bool] = False
    needs_witness: ClassVar[bool] = False
    #: Whether ``f`` may return the same value for every input. Where the student must reproduce,
    #: invert or predict ``f``'s outputs, a constant ``f`` (a docstring-only stub returns None
    #: everywhere) makes a problem that teaches nothing, so validation rejects it.
    constant_outputs_allowed: ClassVar[bool] = False

    def __init__(
        self,
        *,
        n_inputs: int = 5,
        banned: BannedConstructs | None = None,
        limits: Limits | None = None,
        max_output_chars: int = 4_000,
        max_answer_chars: int = 100_000,
    ) -> None:
        if n_inputs < 1:
            raise ConfigError(f"n_inputs must be ≥ 1, got {n_inputs}")
        if max_output_chars < 1 or max_answer_chars < 1:
            raise ConfigError(
                "max_output_chars and max_answer_chars must be ≥ 1, got "
                f"{max_output_chars} and {max_answer_chars}"
            )
        self.n_inputs = n_inputs
        self.banned = BannedConstructs() if banned is None else banned
        self.limits = limits
        self.max_output_chars = max_output_chars
        self.max_answer_chars = max_answer_chars

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_inputs={self.n_inputs})"

    # --- environment-specific text -------------------------------------------------------------
    @abstractmethod
    def task(self) -> str:
        """What the problem is and what the student will see (for the teacher)."""

    @abstractmethod
    def student_prompt(self, problem: Problem) -> list[Message]:
        """What the student sees for this problem."""

    @abstractmethod
    async def grade(
        self, problem: Problem, answers: Sequence[str | None], sandbox: Sandbox
    ) -> list[Grade]:
        """Binary rewards for the extracted answers to one problem (None: no answer, 0.0)."""

    def check_gradable(self, problem: Problem) -> None:
        """Raise ConfigError unless ``problem`` belongs to this environment and has gold outputs."""
        if not isinstance(problem, Problem):
            raise ConfigError(
                f"grade takes a validated Problem, got a {type(problem).__name__}"
                + (f" ({problem.reason})" if isinstance(problem, Rejection) else "")
                + ": check what env.validate returned before grading"
            )
        if problem.env != self.name:
            raise ConfigError(
                f"problem {problem.id} is a {problem.env} problem; grade it with "
                f"stepstones.envs.get({problem.env!r}), not {self.name!r}"
            )
        if not problem.inputs or len(problem.outputs) != len(problem.inputs):
            raise ConfigError(
                f"problem {problem.id} has {len(problem.inputs)} inputs and "
                f"{len(problem.outputs)} outputs; validate it first (env.validate) to compute them"
            )

    async def check_problem(
        self, problem: Problem, sandbox: Sandbox
    ) -> tuple[RejectionKind, str] | None:
        """An environment's own validity check after gold outputs exist (None: valid)."""
        return None

    # --- teacher side --------------------------------------------------------------------------
    def _format(self) -> str:
        return _prompts.teacher_format(
            self.functions,
            self.n_inputs,
            message=self.needs_message,
            witness=self.needs_witness,
        )

    def _example(self) -> list[Message]:
        return _prompts.example_exchange(
            self.functions,
            self.n_inputs,
            message=self.needs_message,
            witness=self.needs_witness,
        )

    def seed_prompt(self, seed: Seed, *, feedback: str | None = None) -> list[Message]:
        """Turn 1: the environment's rules plus the seed snippet."""
        return _prompts.teacher_messages(
            self.task(), _prompts.seed_body(seed), self._format(), feedback, self._example()
        )

    def mutate_prompt(
        self,
        problem: Problem,
        summary: Summary,
        instruction: Instruction,
        *,
        feedback: str | None = None,
        target: tuple[float, float] = _prompts.DEFAULT_TARGET,
    ) -> list[Message]:
        """Adapt a measured problem harder, easier or sideways, from the student summary.

        target: the pass-rate band (low, high) the instruction asks the teacher to aim at.
        """
        if instruction not in _prompts.PROGRESSIONS:
            raise ConfigError(
                f"instruction must be one of {sorted(_prompts.PROGRESSIONS)}, got {instruction!r}"
            )
        aim = _prompts.progression(instruction, target)
        body = (
            f"{_prompts.render_results(problem)}\n\n{_prompts.render_summary(summary)}\n\n"
            f"{aim}\n\n{_prompts.STANDALONE}"
        )
        return _prompts.followup_messages(
            self.task(), problem, body, self._format(), feedback=feedback, example=self._example()
        )

    def top_down_prompt(
        self,
        seed: Seed,
        stage: Stage,
        previous: Problem | None,
        *,
        feedback: str | None = None,
    ) -> list[Message]:
        """Top-down chains: a hard problem from the seed, then medium and easy variants of it."""
        if stage not in _prompts.STAGES:
            raise ConfigError(f"stage must be one of {sorted(_prompts.STAGES)}, got {stage!r}")
        if stage == "hard":
            body = f"{_prompts.seed_body(seed)}\n\n{_prompts.STAGES['hard']}"
        else:
            if previous is None:
                raise ConfigError(f"the {stage!r} stage needs the previous problem, got None")
            body = (
                f"{_prompts.render_results(previous)}\n\nThat was the previous, harder problem. "
                f"{_prompts.STAGES[stage]}\n\n{_prompts.STANDALONE}"
            )
            return _prompts.followup_messages(
                self.task(),
                previous,
                body,
                self._format(),
                feedback=feedback,
                example=self._example(),
            )
        return _prompts.teacher_messages(
            self.task(), body, self._format(), feedback, self._example()
        )

    def parse(self, reply: str, *, reasoning: str = "") -> Draft | Rejection:
        """Parse a teacher reply tolerantly; a reply that cannot be parsed is a Rejection."""
        return parse_reply(
            reply,
            env=self.name,
            required=self.functions,
            n_inputs=self.n_inputs,
            need_message=self.needs_message,
            need_witness=self.needs_witness,
            reasoning=reasoning,
        )

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

        With ``dedup``, a problem already seen is rejected as a duplicate and a new one is
        recorded in it.
        """
        from stepstones.envs._validate import validate  # noqa: PLC0415 - keeps imports light

        return await validate(
            self, draft, sandbox, seed_id=seed_id, parent_id=parent_id, dedup=dedup
        )

    # --- student side --------------------------------------------------------------------------
    def extract(self, completion: str) -> str | None:
        """The answer in a student completion: the last fenced block of :attr:`answer_kind`.

        Falls back to the last untagged, ```` ```answer ```` (or, for data answers,
        ```` ```python ````) block. Think sections and
        chat-template residue are ignored; an empty block is no answer.
        """
        body, _ = split_reasoning(completion)
        found = blocks(body)
        if self.answer_kind == "python":
            # Prefer the last block that defines the function over a trailing usage example.
            for block in reversed(found):
                if block.kind in ("python", "", "answer") and "f" in (
                    defined_functions(block.text) or ()
                ):
                    return block.text.strip() + "\n"
        fallback = ("", "answer") if self.answer_kind == "python" else ("", "answer", "python")
        for kinds in ((self.answer_kind,), fallback):
            for block in reversed(found):
                text = block.text.strip()
                if block.kind not in kinds or not text:
                    continue
                if self.answer_kind == "input":
                    return normalize_input(text)
                return text + "\n" if self.answer_kind == "python" else text
        return None
