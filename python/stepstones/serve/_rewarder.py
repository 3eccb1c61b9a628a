"""Turning (response, label) pairs into rewards, never raising.

Items are grouped by problem, across concurrent requests too (:mod:`._batcher`), so one
``env.grade`` call sees every answer to the same problem (the environment batches them into as
few sandbox children as it can). Each grade call holds a
slot of one :class:`anyio.CapacityLimiter` and runs under a deadline. Whatever fails — a label
that is not a problem, a grader exception, a sandbox failure, a deadline — becomes reward 0.0
with a named outcome and a logged reason: a failed reward request would crash the trainer.
"""

from __future__ import annotations

import ast
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import anyio
import msgspec

from stepstones.errors import GradingError, LabelError, SandboxError
from stepstones.records import Grade, Problem
from stepstones.serve._batcher import Batcher
from stepstones.serve._cut import OFFLOAD_CHARS
from stepstones.serve._labels import parse_label
from stepstones.serve._metrics import Metrics

if TYPE_CHECKING:
    from stepstones.envs import BaseEnvironment, Environment
    from stepstones.sandbox import Sandbox
    from stepstones.serve._config import Config
    from stepstones.serve._ledger import Ledger

__all__ = ["OUTCOMES", "Rewarder", "Verdict"]

log = logging.getLogger("stepstones.serve")

#: Every outcome a reward can have; extra_logs carries one 0/1 column per outcome.
OUTCOMES: tuple[str, ...] = (
    "pass",
    "wrong",
    "no_answer",
    "timeout",
    "memory_limit",
    "runtime_error",
    "output_limit",
    "denied_syscall",
    "signal",
    "bad_label",
    "grade_timeout",
    "grader_error",
    "sandbox_error",
)
_FAILURES = frozenset({"bad_label", "grade_timeout", "grader_error", "sandbox_error"})
_STATUS_OUTCOMES = frozenset(OUTCOMES) & {
    "timeout",
    "memory_limit",
    "runtime_error",
    "output_limit",
    "denied_syscall",
    "signal",
}


def _program_key(answer: str | None) -> str | None:
    """A program's syntax tree without comments and layout (its text when it does not parse)."""
    if answer is None:
        return None
    try:
        return ast.dump(ast.parse(answer))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return answer


class Verdict(msgspec.Struct, frozen=True):
    """The reward of one item and why."""

    reward: float
    outcome: str  # one of OUTCOMES
    reason: str
    env: str = "unknown"


def _outcome(grade: Grade, answer: str | None) -> str:
    if grade.reward > 0:
        return "pass"
    if answer is None:
        return "no_answer"
    if grade.status == "sandbox_failure":
        return "sandbox_error"
    if grade.status in _STATUS_OUTCOMES:
        return grade.status
    return "wrong"


class Rewarder:
    """Grades responses against labels with one sandbox, bounded and deadline-guarded.

    ``sandbox=None`` uses :func:`stepstones.sandbox.shared_sandbox` on first use.
    ``envs`` maps environment names to implementations (default: :data:`stepstones.envs.ALL`).
    Answers to the same problem that arrive within ``batch_window_s`` of each other, from any
    number of concurrent ``score`` calls, are graded in one call (at most ``max_batch``).
    """

    def __init__(
        self,
        sandbox: Sandbox | None = None,
        *,
        max_concurrent_grades: int = 256,
        grade_timeout_s: float = 60.0,
        envs: Mapping[str, Environment] | None = None,
        metrics: Metrics | None = None,
        batch_window_s: float = 0.005,
        max_batch: int = 256,
    ) -> None:
        self._sandbox = sandbox
        self._limiter = anyio.CapacityLimiter(max_concurrent_grades)
        self._grade_timeout_s = grade_timeout_s
        self._envs = envs
        self.metrics = metrics if metrics is not None else Metrics()
        self._batcher: Batcher[str | None, Verdict] = Batcher(
            self._grade, window_s=batch_window_s, max_batch=max_batch
        )
        #: Set by the server when it keeps a live ledger (docs/design.md §9): every graded
        #: item is queued there, off the reward path.
        self.ledger: Ledger | None = None

    @classmethod
    def from_config(cls, sandbox: Sandbox | None, config: Config) -> Rewarder:
        """The rewarder a server with ``config`` grades with: its grade concurrency, deadline
        and batching (one constructor for the local server and every Ray replica)."""
        return cls(
            sandbox,
            max_concurrent_grades=config.max_concurrent_grades,
            grade_timeout_s=config.grade_timeout_s,
            batch_window_s=config.batch_window_s,
            max_batch=config.max_batch,
        )

    @property
    def sandbox(self) -> Sandbox:
        if self._sandbox is None:
            from stepstones.sandbox import shared_sandbox  # noqa: PLC0415 - start on first use

            self._sandbox = shared_sandbox()
        return self._sandbox

    def _env(self, name: str) -> Environment | BaseEnvironment:
        if self._envs is not None:
            return self._envs[name]
        from stepstones import envs  # noqa: PLC0415 - envs pull in the sandbox

        return envs.get(name)

    async def score(
        self, responses: Sequence[str], labels: Sequence[Any], *, step: int | None = None
    ) -> list[Verdict]:
        """One verdict per item, in order; never raises (except on cancellation).

        step: the trainer's step the items come from, when it says (recorded in the ledger).
        """
        out: list[Verdict | None] = [None] * len(responses)
        groups: dict[str, tuple[Problem, list[int]]] = {}
        for i, label in enumerate(labels):
            try:
                problem = parse_label(label)
            except LabelError as exc:
                out[i] = Verdict(0.0, "bad_label", str(exc))
                continue
            groups.setdefault(problem.id, (problem, []))[1].append(i)
        if len(groups) == 1:  # the common case (one item per request): no task to spawn
            ((problem, idx),) = groups.values()
            await self._score_group(problem, idx, responses, out)
        else:
            async with anyio.create_task_group() as tg:
                for problem, idx in groups.values():
                    tg.start_soon(self._score_group, problem, idx, responses, out)
        verdicts = [v if v is not None else Verdict(0.0, "grader_error", "no verdict") for v in out]
        for v in verdicts:
            self.metrics.reward(v.env, v.outcome)
            if v.outcome in _FAILURES:
                log.warning("reward 0.0 (%s, env=%s): %s", v.outcome, v.env, v.reason)
        if self.ledger is not None:
            self.ledger.record(groups.values(), responses, verdicts, step)
        return verdicts

    async def _score_group(
        self,
        problem: Problem,
        idx: list[int],
        responses: Sequence[str],
        out: list[Verdict | None],
    ) -> None:
        try:
            env = self._env(problem.env)
            texts = [responses[i] for i in idx]
            if sum(map(len, texts)) <= OFFLOAD_CHARS:
                answers = [env.extract(t) for t in texts]
            else:  # linear, but long: off the event loop
                answers = await anyio.to_thread.run_sync(lambda: [env.extract(t) for t in texts])
        except Exception as exc:
            for i in idx:
                out[i] = Verdict(0.0, "grader_error", f"{type(exc).__name__}: {exc}", problem.env)
            return
        verdicts = await self._batcher.submit(problem, answers)
        for i, verdict in zip(idx, verdicts, strict=False):
            out[i] = verdict

    async def _grade(self, problem: Problem, answers: list[str | None]) -> list[Verdict]:
        """Grade one batch of answers to ``problem``; failures become 0.0 verdicts.

        Program answers that parse to the same syntax tree (they differ only in comments or
        layout, common among a GRPO group's samples) are run once: each untrusted program
        costs a sandbox child, and such programs behave identically.
        """
        env_name = problem.env
        try:
            env = self._env(env_name)
            if getattr(env, "answer_kind", None) == "python":
                # Answers over the grader's size cap are judged on their text, not their tree.
                cap = getattr(env, "max_answer_chars", None)
                keys = [
                    a if a is not None and cap is not None and len(a) > cap else _program_key(a)
                    for a in answers
                ]
            else:
                keys = list(answers)
            first: dict[str | None, int] = {}
            for i, key in enumerate(keys):
                first.setdefault(key, i)
            unique = [answers[i] for i in first.values()]
            self.metrics.grade_call(env_name, len(unique))
            async with self._limiter:
                with anyio.fail_after(self._grade_timeout_s):
                    unique_grades = await env.grade(problem, unique, self.sandbox)
            if len(unique_grades) != len(unique):
                raise GradingError(
                    f"grader returned {len(unique_grades)} grades for {len(unique)} answers"
                )
            by_key = dict(zip(first, unique_grades, strict=True))
            grades = [by_key[key] for key in keys]
        except TimeoutError:
            reason = f"grading passed {self._grade_timeout_s}s"
            return [Verdict(0.0, "grade_timeout", reason, env_name) for _ in answers]
        except Exception as exc:
            kind = "sandbox_error" if isinstance(exc, SandboxError) else "grader_error"
            reason = f"{type(exc).__name__}: {exc}"
            return [Verdict(0.0, kind, reason, env_name) for _ in answers]
        out = []
        for answer, grade in zip(answers, grades, strict=True):
            outcome = _outcome(grade, answer)
            out.append(Verdict(1.0 if outcome == "pass" else 0.0, outcome, grade.reason, env_name))
        return out
