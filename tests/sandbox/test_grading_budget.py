"""Data answers that never terminate cost one job's wall-clock limit per problem, not one each.

``envs._grading.batched_calls`` runs a problem's data answers in one child; after a call is
charged with a per-call timeout, the rest are split over the zygotes and re-run at once, and
every job gets only what is left of one shared wall-clock budget. Checked on the real sandbox
by counting and by the budgets the jobs were given, never by how long anything took.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import anyio
import pytest

from stepstones.envs._grading import batched_calls
from stepstones.sandbox import CallResult, Job, Limits, Outcome, Sandbox

SPIN = "def f(n):\n    while n > 100:\n        pass\n    return n * 2\n"
LIMITS = Limits(wall_time_s=20.0, cpu_time_s=20.0, call_cpu_time_s=0.2)


class Recording:
    """The real sandbox; records each job with the clock reading when it was handed over, and
    how many jobs ran at once."""

    def __init__(self, sandbox: Sandbox, clock: list[float]) -> None:
        self.sandbox = sandbox
        self.workers = sandbox.workers
        self.limits = sandbox.limits
        self.clock = clock
        self.jobs: list[tuple[float, Job]] = []
        self.running = 0
        self.most_at_once = 0

    async def run(self, job: Job) -> Outcome:
        self.jobs.append((self.clock[0], job))
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            outcome: Outcome = await self.sandbox.run(job)
        finally:
            self.running -= 1
        # The injected clock advances by what each job reports it took.
        self.clock[0] += outcome.wall_time_s
        return outcome


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(workers=2, limits=LIMITS) as sandbox:
        yield sandbox


def _run(sb: Sandbox, args: Sequence[str], clock: list[float]) -> tuple[Recording, list[object]]:
    rec = Recording(sb, clock)

    async def main() -> list[CallResult | Outcome]:
        return await batched_calls(rec, SPIN, "f", args, LIMITS, clock=lambda: clock[0])  # type: ignore[arg-type]

    return rec, list(anyio.run(main))


def test_spinning_answers_are_rerun_on_every_zygote_at_once(sb: Sandbox) -> None:
    args = ["1", "101", "2", "102", "103", "104", "105", "3"]
    rec, results = _run(sb, args, [0.0])
    for a, r in zip(args, results, strict=True):
        if int(a) > 100:
            assert isinstance(r, Outcome) and r.status == "timeout", (a, r)
        else:
            assert isinstance(r, CallResult) and r.value == str(int(a) * 2), (a, r)
    # After the first charged call, the rest went to both zygotes at the same time.
    assert rec.most_at_once >= 2, rec.most_at_once
    # Each job got at most what was left of one limit, counted from the first.
    for handed_at, job in rec.jobs:
        assert job.limits is not None
        assert handed_at + job.limits.wall_time_s <= LIMITS.wall_time_s + 1e-9


def test_calls_not_run_when_the_budget_is_spent_are_charged_a_timeout(sb: Sandbox) -> None:
    """With the clock already past the budget after the first job, nothing else runs."""
    clock = [0.0]
    rec = Recording(sb, clock)
    spent = LIMITS.wall_time_s + 1.0

    async def main() -> list[CallResult | Outcome]:
        async def run(job: Job) -> Outcome:
            outcome = await Recording.run(rec, job)
            clock[0] = spent
            return outcome

        rec.run = run  # type: ignore[method-assign]
        return await batched_calls(
            rec,  # type: ignore[arg-type]
            SPIN,
            "f",
            ["101", "1", "102"],
            LIMITS,
            clock=lambda: clock[0],
        )

    results = anyio.run(main)
    assert len(rec.jobs) == 1
    first, second, third = results
    assert isinstance(first, Outcome) and first.status == "timeout"
    for r in (second, third):
        assert isinstance(r, Outcome) and "grading budget" in r.detail, r
