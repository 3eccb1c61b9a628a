"""Real Problem records with real gold outputs, shared by the dataset and serve tests."""

from __future__ import annotations

from stepstones.envs import problem_id
from stepstones.records import Env, Problem


def make_problem(k: int, pass_rate: float | None, env: Env = "deduction") -> Problem:
    """A valid problem: ``f(x) = x * k + 1`` with its gold output computed here."""
    code = f"def f(x):\n    return x * {k} + 1\n"
    inputs = (str(k + 2),)
    outputs = (repr((k + 2) * k + 1),)
    return Problem(
        id=problem_id(env, code, inputs),
        env=env,
        code=code,
        inputs=inputs,
        outputs=outputs,
        message="multiplies and adds one",
        pass_rate=pass_rate,
        n_attempts=32 if pass_rate is not None else 0,
    )
