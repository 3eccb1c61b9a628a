"""One problem per environment, validated by its environment in the real sandbox (gold
outputs computed there), with a right and a wrong student completion for each."""

from __future__ import annotations

from stepstones import envs
from stepstones.envs import problem_id
from stepstones.records import Draft, Env, Problem
from stepstones.sandbox import Sandbox

INPUTS = ("1", "2", "3", "4", "5")
LINEAR = "def f(x):\n    return x * 2 + 1\n"
FUZZ = (
    "def f(x):\n    return abs(x)\n\n"
    "def pre_test_f(x):\n    return isinstance(x, int)\n\n"
    "def test_f(x):\n    return f(x) == x\n"
)

DRAFTS: dict[Env, Draft] = {
    "deduction": Draft(env="deduction", code=LINEAR, inputs=INPUTS),
    "abduction": Draft(env="abduction", code=LINEAR, inputs=INPUTS),
    "induction": Draft(env="induction", code=LINEAR, inputs=INPUTS, message="doubles, plus one"),
    "fuzzing": Draft(env="fuzzing", code=FUZZ, inputs=INPUTS, witness="-1"),
}

#: (right completion, wrong completion) per environment; f(1) == 3 is the first gold output.
ANSWERS: dict[Env, tuple[str, str]] = {
    "deduction": ("f(1) = 1*2+1.\n```output\n3\n```", "I think\n```output\n4\n```"),
    "abduction": ("f(1) == 3, so\n```input\n1\n```", "```input\n2\n```"),
    "induction": (
        "```python\ndef f(x):\n    return 2 * x + 1\n```",
        "```python\ndef f(x):\n    return x + 1\n```",
    ),
    "fuzzing": ("abs(-3) != -3\n```input\n-3\n```", "```input\n3\n```"),
}


async def validated(sandbox: Sandbox) -> dict[Env, Problem]:
    """The four problems, validated by their environments."""
    out: dict[Env, Problem] = {}
    for name, draft in DRAFTS.items():
        result = await envs.get(name).validate(draft, sandbox)
        assert isinstance(result, Problem), f"{name} draft rejected: {result}"
        out[name] = result
    return out


def make_problem() -> Problem:
    """A deduction problem built by hand (no sandbox): for tests of labels and batching."""
    code = "def f(x):\n    return x * 4 + 1\n"
    return Problem(
        id=problem_id("deduction", code, ("6",)),
        env="deduction",
        code=code,
        inputs=("6",),
        outputs=("25",),
        pass_rate=0.5,
        n_attempts=32,
    )
