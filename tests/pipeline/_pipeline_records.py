"""Hand-built chains for store and stats tests (real records, nothing generated)."""

from __future__ import annotations

from stepstones.records import Chain, Draft, Problem, Rejection, Seed, Summary, Turn, Usage


def seed(n: int) -> Seed:
    return Seed(id=f"seed{n}", text=f"x = {n}\n", source="test.py", start_line=1, end_line=1)


def problem(pid: str, pass_rate: float, parent: str | None = None) -> Problem:
    return Problem(
        id=pid,
        env="deduction",
        code="def f(x):\n    return x\n",
        inputs=("1",),
        outputs=("1",),
        pass_rate=pass_rate,
        n_attempts=4,
        parent_id=parent,
    )


def chain(n: int, rates: list[float | None], mode: str = "adaptive") -> Chain:
    """A chain whose turn i is measured at rates[i], or rejected (format) when None."""
    turns = []
    parent: str | None = None
    for i, p in enumerate(rates):
        usage = Usage(prompt_tokens=10, completion_tokens=5, requests=1, latency_s=0.1)
        if p is None:
            turns.append(
                Turn(
                    index=i,
                    instruction="seed",
                    rejection=Rejection(kind="format", reason="No message found!"),
                    teacher_usage=usage,
                )
            )
            continue
        pid = f"c{n}p{i}"
        turns.append(
            Turn(
                index=i,
                instruction="seed" if parent is None else "harder",
                draft=Draft(env="deduction", code="def f(x):\n    return x\n", inputs=("1",)),
                problem=problem(pid, p, parent),
                summary=Summary(pass_rate=p, n_attempts=4, n_passed=round(p * 4)),
                teacher_usage=usage,
                student_usage=usage,
            )
        )
        parent = pid
    return Chain(
        id=f"chain{n}-{mode}",
        seed=seed(n),
        env="deduction",
        mode=mode,  # type: ignore[arg-type]
        turns=tuple(turns),
    )
