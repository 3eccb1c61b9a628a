"""Coalescing answers to the same problem across concurrent requests into one grading call.

OpenRLHF sends one item per request, but the n samples of a GRPO group arrive together and
share a problem. Graders batch every answer they are given (abduction and fuzzing run all of a
problem's answers in ONE sandbox child, identical answers are graded once), so the server
gathers the answers that arrive for a problem within ``window_s`` and grades them in one call.

The first request for a problem becomes the batch's *leader*: it waits the window, closes the
batch and grades it for everyone; the others wait for its result. The leader's work is shielded
from cancellation (a follower must never be left waiting on a cancelled leader); deadlines
inside the grading function still apply.

The window is waited with an injectable ``sleep`` (``anyio.sleep`` by default): tests close
it with an event instead of a clock, so which request leads and which joins is decided by the
test, never by timing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import anyio

from stepstones.errors import ConfigError
from stepstones.records import Problem

__all__ = ["Batcher"]

T = TypeVar("T")
A = TypeVar("A")


class _Batch(Generic[A, T]):
    def __init__(self, answers: Sequence[A]) -> None:
        self.answers: list[A] = list(answers)
        self.results: list[T] = []
        self.done = anyio.Event()


class Batcher(Generic[A, T]):
    """Groups ``submit(problem, answers)`` calls by problem id.

    ``grade(problem, answers)`` must return one result per answer and never raise (failures
    are results too). ``window_s = 0`` still lets requests that are ready in the same event
    loop turn join; ``max_batch`` bounds one call's size.
    """

    def __init__(
        self,
        grade: Callable[[Problem, list[A]], Awaitable[list[T]]],
        *,
        window_s: float = 0.005,
        max_batch: int = 256,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        if window_s < 0:
            raise ConfigError(f"batch window must be >= 0 seconds, got {window_s}")
        if max_batch < 1:
            raise ConfigError(f"max_batch must be >= 1, got {max_batch}")
        self._grade = grade
        self.window_s = window_s
        self.max_batch = max_batch
        self.sleep = sleep
        self._open: dict[str, _Batch[A, T]] = {}
        self.calls = 0  # grading calls made (for metrics and tests)

    async def submit(self, problem: Problem, answers: Sequence[A]) -> list[T]:
        if len(answers) > self.max_batch:
            return await self._submit_chunks(problem, answers)
        batch = self._open.get(problem.id)
        if batch is not None and len(batch.answers) + len(answers) <= self.max_batch:
            start = len(batch.answers)
            batch.answers.extend(answers)
            await batch.done.wait()
            return batch.results[start : start + len(answers)]
        batch = _Batch(answers)
        self._open[problem.id] = batch
        try:
            with anyio.CancelScope(shield=True):
                await self.sleep(self.window_s)
                if self._open.get(problem.id) is batch:
                    del self._open[problem.id]
                self.calls += 1
                batch.results = await self._grade(problem, batch.answers)
        finally:
            if self._open.get(problem.id) is batch:
                del self._open[problem.id]
            batch.done.set()
        return batch.results[: len(answers)]

    async def _submit_chunks(self, problem: Problem, answers: Sequence[A]) -> list[T]:
        """One request with more answers than ``max_batch``: graded in calls of at most
        ``max_batch`` answers each, all at once, its verdicts back in the request's order."""
        chunks = [answers[i : i + self.max_batch] for i in range(0, len(answers), self.max_batch)]
        results: list[list[T]] = [[] for _ in chunks]

        async def one(i: int) -> None:
            results[i] = await self.submit(problem, chunks[i])

        async with anyio.create_task_group() as tg:
            for i in range(len(chunks)):
                tg.start_soon(one, i)
        return [r for chunk in results for r in chunk]
