"""The fork economy of docs/design.md §3: many data answers, one child; a crash costs a re-run.

Data answers (abduction and fuzzing inputs) are parsed in the parent with the literal parser;
those that parse are deduplicated and sent as the argument lists of ONE call job against the
validated problem code. If that child times out or crashes part-way, the calls it finished keep
their results, the call that was running is charged with the failure, and the calls after it are
re-run: split over the sandbox's zygotes, each part in one fresh child, all parts at once. When
the job's *total* CPU or wall budget ran out after some calls had finished, the running call may
be innocent: it is re-run first in a fresh child instead, and charged only if it fails again with
nothing finished before it.

The whole problem shares ONE job's wall-clock limit (``Limits.wall_time_s``), counted from its
first job: every re-run gets only what is left of it, and calls not run when it is spent are
charged a timeout. So answers that never terminate cost about one limit of wall time per
problem, not one per answer (k such answers once cost k limits, one after another).

Verdicts are computed here, on the host, from the values the calls returned
(:class:`~stepstones.sandbox.CallResult`), never from what the program prints or its status.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import anyio
import msgspec

from stepstones import _literal
from stepstones.envs._parse import normalize_input
from stepstones.records import Grade
from stepstones.sandbox._types import Call, CallResult, Limits, Outcome

if TYPE_CHECKING:
    from stepstones.sandbox import Sandbox

__all__ = ["batched_calls", "grade_data_answers", "no_answer", "outcome_reason"]

#: Grade of an attempt with no answer of the right kind.
NO_ANSWER = Grade(
    reward=0.0, reason="no answer found in the required fenced block", status="format"
)


def no_answer() -> Grade:
    """The grade of a missing answer."""
    return NO_ANSWER


def outcome_reason(outcome: Outcome) -> str:
    """A short sentence for a job that did not finish normally."""
    reasons = {
        "timeout": "timeout",
        "memory_limit": "memory limit exceeded",
        "output_limit": "output limit exceeded",
        "denied_syscall": "denied system call",
        "signal": f"killed by signal {outcome.signal}",
        "sandbox_failure": f"sandbox failure: {outcome.detail}",
        "runtime_error": (
            f"crashed: {outcome.exception_type or 'exit'} {outcome.exception_message or ''}"
        ).strip(),
    }
    return reasons.get(outcome.status, outcome.status)


def _whole_job_limit(outcome: Outcome) -> bool:
    """A timeout not known to come from the per-call CPU budget (which names its call)."""
    return outcome.status == "timeout" and not outcome.detail.startswith("a call used")


def _spent(limits: Limits) -> Outcome:
    return Outcome(
        status="timeout",
        detail=(
            f"the problem's grading budget ({limits.wall_time_s} s of wall time, one job's "
            "limit) ran out before this call ran"
        ),
    )


def _split(todo: list[int], parts: int) -> list[list[int]]:
    """``todo`` in ``parts`` contiguous, nearly equal, non-empty pieces (in order)."""
    parts = max(1, min(parts, len(todo)))
    size, extra = divmod(len(todo), parts)
    out, start = [], 0
    for p in range(parts):
        end = start + size + (1 if p < extra else 0)
        out.append(todo[start:end])
        start = end
    return out


async def batched_calls(
    sandbox: Sandbox,
    source: str,
    function: str,
    args: Sequence[str],
    limits: Limits | None,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> list[CallResult | Outcome]:
    """Call ``function`` on every argument list, as few children as possible, within one
    job's wall-clock limit in all (see the module doc).

    Returns, per argument list, its :class:`CallResult` when the call ran, or the
    :class:`Outcome` of the job whose failure it was charged with. ``clock`` (seconds,
    monotonic) measures the shared budget.
    """
    default: Limits = getattr(sandbox, "limits", None) or Limits()
    budget = limits if limits is not None else default
    deadline = clock() + budget.wall_time_s
    workers = int(getattr(sandbox, "workers", 1) or 1)
    results: list[CallResult | Outcome | None] = [None] * len(args)

    async def run(todo: list[int]) -> None:
        while todo:
            left = deadline - clock()
            if left <= 0:
                for i in todo:
                    results[i] = _spent(budget)
                return
            job = Call(
                source=source,
                function=function,
                args=tuple(args[i] for i in todo),
                limits=msgspec.structs.replace(budget, wall_time_s=min(budget.wall_time_s, left)),
            )
            outcome = await sandbox.run(job)
            rest: list[int] = []
            for j, i in enumerate(todo):
                call = outcome.calls[j] if j < len(outcome.calls) else None
                if call is not None and call.ran:
                    results[i] = call
                else:
                    rest.append(i)
            if not rest:
                return
            if _whole_job_limit(outcome) and len(rest) < len(todo):
                # The job's total CPU or wall budget ran out after some calls finished: the
                # call that was running may be innocent, so it goes first in a fresh child.
                todo = rest
                continue
            # The first call that did not finish is the one that was running when it died.
            results[rest[0]] = outcome
            todo = rest[1:]
            if outcome.ok or outcome.status == "sandbox_failure":
                # Nothing to blame on a call: every remaining one shares the outcome.
                for i in todo:
                    results[i] = outcome
                return
            if len(todo) > 1 and workers > 1:
                # A call was charged: the rest go to every zygote at once, not one by one.
                async with anyio.create_task_group() as tg:
                    for part in _split(todo, workers):
                        tg.start_soon(run, part)
                return

    await run(list(range(len(args))))
    return [r if r is not None else CallResult(ran=False) for r in results]


async def grade_data_answers(
    sandbox: Sandbox,
    answers: Sequence[str | None],
    *,
    source: str,
    function: str,
    limits: Limits | None,
    max_answer_chars: int,
    judge: Callable[[CallResult], Grade],
) -> list[Grade]:
    """Grade argument-list answers: parse in the parent, one deduplicated batch, ``judge`` each."""
    grades: list[Grade | None] = [None] * len(answers)
    unique: dict[str, list[int]] = {}
    texts: dict[str, str] = {}
    for i, answer in enumerate(answers):
        if answer is None:
            grades[i] = NO_ANSWER
            continue
        if len(answer) > max_answer_chars:
            grades[i] = Grade(
                reward=0.0,
                reason=f"answer is {len(answer)} characters, over the {max_answer_chars} limit",
                status="format",
            )
            continue
        text = normalize_input(answer)
        try:
            args, kwargs = _literal.parse_args(text)
            key = _literal.dump(args) + _literal.dump(dict(sorted(kwargs.items())))
        except (_literal.LiteralParseError, _literal.NotLiteralError) as exc:
            grades[i] = Grade(
                reward=0.0,
                reason=f"answer is not an argument list of plain literals: {exc}",
                status="format",
            )
            continue
        unique.setdefault(key, []).append(i)
        texts.setdefault(key, text)
    if unique:
        results = await batched_calls(sandbox, source, function, list(texts.values()), limits)
        for idx, result in zip(unique.values(), results, strict=True):
            if isinstance(result, Outcome):
                grade = Grade(reward=0.0, reason=outcome_reason(result), status=result.status)
            else:
                grade = judge(result)
            for i in idx:
                grades[i] = grade
    return [g if g is not None else NO_ANSWER for g in grades]
