"""What the teacher sees of the attempts (docs/design.md §2 step 4) and of a rejected draft."""

from __future__ import annotations

from collections.abc import Sequence

from stepstones.errors import GradingError
from stepstones.pipeline._config import Config
from stepstones.records import Attempt, Grade, Rejection, Summary

__all__ = ["build_summary", "feedback", "truncate"]

_CUT = "\n... [truncated]"


def truncate(text: str, max_chars: int) -> str:
    """``text`` cut to at most ``max_chars`` characters, with a marker when it was cut."""
    if len(text) <= max_chars:
        return text
    return text[: max(0, max_chars - len(_CUT))] + _CUT


def build_summary(attempts: Sequence[Attempt], grades: Sequence[Grade], config: Config) -> Summary:
    """Pass rate over all attempts, up to ``summary_examples`` solved and failed answers
    (truncated; failed ones carry the grade's reason) and the number of format errors.

    Failed examples prefer answers that were extracted (a wrong answer teaches the teacher
    more than a missing one); format errors are counted instead.
    """
    if len(attempts) != len(grades):
        raise GradingError(
            f"{len(attempts)} attempts but {len(grades)} grades: a grader must return one grade "
            "per answer"
        )
    n = len(attempts)
    passed = [a for a, g in zip(attempts, grades, strict=True) if g.reward > 0]
    failed = [(a, g) for a, g in zip(attempts, grades, strict=True) if g.reward <= 0]
    failed.sort(key=lambda ag: ag[0].answer is None)  # stable: answered ones first
    k = config.summary_examples
    limit = config.summary_answer_chars
    solved = tuple(truncate(a.answer or "", limit) for a in passed[:k])
    shown_failed = tuple(
        truncate(f"{a.answer if a.answer is not None else '(no answer)'}\n# {g.reason}", limit)
        for a, g in failed[:k]
    )
    return Summary(
        pass_rate=len(passed) / n if n else 0.0,
        n_attempts=n,
        n_passed=len(passed),
        solved=solved,
        failed=shown_failed,
        format_errors=sum(1 for a in attempts if a.answer is None),
    )


def feedback(rejection: Rejection | None) -> str | None:
    """The note the teacher gets next turn about its last draft.

    None when there is nothing to say: the draft was valid, or the request itself failed
    (kind "llm": not the teacher's doing, and nothing it could fix).
    """
    if rejection is None or rejection.kind == "llm":
        return None
    return f"Your previous reply was rejected ({rejection.kind}): {rejection.reason}"
