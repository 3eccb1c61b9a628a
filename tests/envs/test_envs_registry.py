"""The public surface of stepstones.envs: exported names, the registry, the protocol, prompts."""

from __future__ import annotations

import msgspec
import pytest

from stepstones import envs
from stepstones.errors import ConfigError
from stepstones.records import ENVIRONMENTS, Message, Problem, Seed, Summary

SEED = Seed(
    id="s", text="def area(w, h):\n    return w * h\n", source="x.py", start_line=1, end_line=2
)


def _problem(env: str) -> Problem:
    code = "def f(xs):\n    return sorted(xs)\n"
    if env == "fuzzing":
        code += "\ndef pre_test_f(xs):\n    return True\n\ndef test_f(xs):\n    return True\n"
    return Problem(
        id="p",
        env=env,  # type: ignore[arg-type]
        code=code,
        inputs=("[3, 1]", "[]", "[2]", "[5, 4, 3]", "[1, 1]"),
        outputs=("[1, 3]", "[]", "[2]", "[3, 4, 5]", "[1, 1]"),
        message="Sort the list.",
        witness="[9, 8]" if env == "fuzzing" else None,
    )


def test_exported_names() -> None:
    assert envs.__all__ == sorted(envs.__all__)
    for name in envs.__all__:
        assert hasattr(envs, name), name
    public = {n for n in dir(envs) if not n.startswith("_")}
    assert {"ALL", "get", "Environment", "compare", "Deduplicator", "BannedConstructs"} <= public


def test_registry() -> None:
    assert tuple(envs.ALL) == ENVIRONMENTS
    for name in ENVIRONMENTS:
        env = envs.get(name)
        assert env is envs.ALL[name]
        assert env.name == name
        assert isinstance(env, envs.Environment)
    with pytest.raises(ConfigError, match="unknown environment 'sql'"):
        envs.get("sql")
    with pytest.raises(TypeError):
        envs.ALL["induction"] = envs.Induction()  # type: ignore[index]


def test_config_is_checked() -> None:
    with pytest.raises(ConfigError, match="n_inputs"):
        envs.Deduction(n_inputs=0)
    with pytest.raises(ConfigError, match="shown_pairs"):
        envs.Induction(n_inputs=3, shown_pairs=4)


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_seed_and_top_down_prompts(name: str) -> None:
    env = envs.get(name)
    for messages in (
        env.seed_prompt(SEED, feedback="No message found!"),
        env.top_down_prompt(SEED, "hard", None),
    ):
        assert [m.role for m in messages] == ["system", "user", "assistant", "user"]
        user = messages[-1].content
        assert SEED.text.strip() in user
        assert "```python" in user
        assert "5 ```input blocks" in user
        assert ("```message" in user) == (name == "induction")
        assert ("```witness" in user) == (name == "fuzzing")
    assert "No message found!" in env.seed_prompt(SEED, feedback="No message found!")[-1].content
    medium_messages = env.top_down_prompt(SEED, "medium", _problem(name))
    medium = medium_messages[-1].content
    assert "MEDIUM variant" in medium
    assert "standalone" in medium
    assert "- input 1: f returned [1, 3]" in medium
    assert _problem(name).code.strip() in medium_messages[-2].content  # the earlier reply
    with pytest.raises(ConfigError, match="previous problem"):
        env.top_down_prompt(SEED, "easy", None)


@pytest.mark.parametrize("name", ENVIRONMENTS)
@pytest.mark.parametrize("instruction", ["harder", "easier", "sibling"])
def test_mutate_prompt(name: str, instruction: str) -> None:
    summary = Summary(
        pass_rate=0.9,
        n_attempts=32,
        n_passed=29,
        solved=("[1, 3]",),
        failed=("[3, 1]: wrong",),
        format_errors=2,
    )
    messages = envs.get(name).mutate_prompt(_problem(name), summary, instruction)  # type: ignore[arg-type]
    user = messages[-1].content
    problem = _problem(name)
    earlier = messages[-2]  # the previous problem, as the teacher's own earlier reply
    assert earlier.role == "assistant"
    assert problem.code.strip() in earlier.content
    assert "- input 4: f returned [3, 4, 5]" in user
    assert "pass rate 0.90" in user
    assert "2 attempts had no answer" in user
    assert "[3, 1]: wrong" in user
    assert instruction.upper() in user
    assert "standalone" in user
    if name == "fuzzing":
        assert "[9, 8]" in earlier.content
    with pytest.raises(ConfigError, match="instruction"):
        envs.get(name).mutate_prompt(problem, summary, "sideways")  # type: ignore[arg-type]


def test_student_prompts_show_what_the_table_says() -> None:
    ind = envs.get("induction").student_prompt(_problem("induction"))
    assert ind == [Message("user", ind[0].content)]
    text = ind[0].content
    assert "Sort the list." in text
    assert "f([3, 1]) == [1, 3]" in text and "f([2]) == [2]" in text
    assert "[3, 4, 5]" not in text  # held out
    assert "sorted" not in text  # the code is never shown
    assert "```python" in text
    # The answer's shape has the problem's arity, never a fixed signature a student copies.
    assert "def f(a):" in text and "name, info" not in text
    two = msgspec.structs.replace(_problem("induction"), inputs=("'x', 2",) * 5)
    assert "def f(a, b):" in envs.get("induction").student_prompt(two)[0].content

    ded = envs.get("deduction").student_prompt(_problem("deduction"))[0].content
    assert "sorted(xs)" in ded and "[3, 1]" in ded and "[1, 3]" not in ded
    assert "```output" in ded

    abd = envs.get("abduction").student_prompt(_problem("abduction"))[0].content
    assert "sorted(xs)" in abd and "[1, 3]" in abd and "```input" in abd

    fuz = envs.get("fuzzing").student_prompt(_problem("fuzzing"))[0].content
    assert "def test_f" in fuz and "def pre_test_f" in fuz and "```input" in fuz
    assert "[9, 8]" not in fuz  # the witness stays hidden


@pytest.mark.anyio
@pytest.mark.parametrize("name", ENVIRONMENTS)
async def test_grading_the_wrong_problem_is_a_clear_error(name: str) -> None:
    other = "deduction" if name != "deduction" else "abduction"
    with pytest.raises(ConfigError, match=f"is a {other} problem"):
        await envs.get(name).grade(_problem(other), ["1"], None)  # type: ignore[arg-type]
    unvalidated = Problem(
        id="u",
        env=name,
        code="def f(x):\n    return x\n",
        inputs=("1",),  # type: ignore[arg-type]
        outputs=(),
    )
    with pytest.raises(ConfigError, match="validate it first"):
        await envs.get(name).grade(unvalidated, ["1"], None)  # type: ignore[arg-type]
