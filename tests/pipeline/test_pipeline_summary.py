"""The summary the teacher sees (docs/design.md §2 step 4) and the feedback on a rejected draft."""

from __future__ import annotations

from stepstones.pipeline import Config, build_summary, feedback
from stepstones.pipeline._summary import truncate
from stepstones.records import Attempt, Grade, Rejection


def _attempt(i: int, answer: str | None) -> Attempt:
    return Attempt(problem_id="p", index=i, completion=f"c{i}", answer=answer)


def test_pass_rate_examples_and_format_errors() -> None:
    attempts = [
        _attempt(0, None),
        _attempt(1, "1"),
        _attempt(2, "2"),
        _attempt(3, "3"),
        _attempt(4, "4"),
        _attempt(5, "5"),
    ]
    grades = [
        Grade(reward=0.0, reason="no answer"),
        Grade(reward=1.0, reason="ok"),
        Grade(reward=0.0, reason="wrong output: got 2, expected 1"),
        Grade(reward=1.0, reason="ok"),
        Grade(reward=1.0, reason="ok"),
        Grade(reward=0.0, reason="wrong output: got 5, expected 1"),
    ]
    s = build_summary(attempts, grades, Config())
    assert (s.n_attempts, s.n_passed, s.format_errors) == (6, 3, 1)
    assert s.pass_rate == 0.5
    assert s.solved == ("1", "3")
    # Answered failures come before missing answers.
    assert s.failed == (
        "2\n# wrong output: got 2, expected 1",
        "5\n# wrong output: got 5, expected 1",
    )


def test_missing_answers_are_shown_when_nothing_else_failed() -> None:
    s = build_summary([_attempt(0, None)], [Grade(reward=0.0, reason="no answer")], Config())
    assert s.failed == ("(no answer)\n# no answer",)
    assert s.pass_rate == 0.0


def test_long_answers_are_truncated() -> None:
    cfg = Config(summary_answer_chars=50)
    s = build_summary([_attempt(0, "x" * 500)], [Grade(reward=1.0, reason="ok")], cfg)
    assert len(s.solved[0]) == 50
    assert s.solved[0].endswith("[truncated]")
    assert truncate("short", 50) == "short"


def test_no_attempts_is_a_zero_rate() -> None:
    s = build_summary([], [], Config())
    assert (s.pass_rate, s.n_attempts) == (0.0, 0)


def test_feedback_names_kind_and_reason() -> None:
    assert feedback(None) is None
    assert feedback(Rejection(kind="llm", reason="HTTP 500")) is None
    note = feedback(Rejection(kind="format", reason="No message found!"))
    assert note is not None
    assert "format" in note
    assert "No message found!" in note
