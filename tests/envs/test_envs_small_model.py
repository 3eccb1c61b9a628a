"""Replies of small teacher models: tolerated deviations, and what is still refused.

Each tolerance here is unambiguous (the reply still says exactly one problem); anything that
could be read two ways, or that is not a valid problem, stays a Rejection.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stepstones.envs import Deduction, get
from stepstones.envs._blocks import blocks, prose
from stepstones.envs._parse import COPIED_EXAMPLE
from stepstones.envs._prompts import PROGRESSIONS, example_code, example_inputs
from stepstones.errors import ConfigError
from stepstones.records import Draft, Problem, Rejection, Seed, Summary
from stepstones.sandbox import Sandbox

F = "def f(a, b):\n    return a * b + 1\n"
INPUTS = ["1, 2", "3, 4", "0, 0", "-1, 5", "2, -2"]
SEED = Seed(id="s", text="def g(x):\n    return x * 2\n", source="t.py", start_line=1, end_line=2)


def _code_and_inputs() -> str:
    return f"```python\n{F}```\n" + "\n".join(f"```input\n{i}\n```" for i in INPUTS)


def test_prose_is_the_text_outside_blocks() -> None:
    text = "Intro ```python\nx = 1\n```\nMessage: hi\nsee `a` ```b``` here\n```input\n1\n``` end"
    assert prose(text).split("\n") == [
        "Intro ",
        "",
        "Message: hi",
        "see `a` ```b``` here",
        "",
        " end",
    ]
    assert [b.kind for b in blocks(text)] == ["python", "input"]


@given(st.text(max_size=300))
def test_prose_never_raises(text: str) -> None:
    assert isinstance(prose(text), str)


def test_message_line_after_the_code() -> None:
    reply = _code_and_inputs() + "\n\n**Message:** Multiply the two numbers, then add one.\n"
    draft = get("induction").parse(reply)
    assert isinstance(draft, Draft)
    assert draft.message == "Multiply the two numbers, then add one."
    assert draft.inputs == tuple(INPUTS)


def test_message_heading_with_the_paragraph_below() -> None:
    reply = _code_and_inputs() + "\n\nHint:\nMultiply them,\nthen add one.\n\nThat is all."
    draft = get("induction").parse(reply)
    assert isinstance(draft, Draft)
    assert draft.message == "Multiply them, then add one."


def test_message_block_wins_over_a_message_line() -> None:
    reply = _code_and_inputs() + "\nMessage: from prose\n```message\nfrom the block\n```"
    draft = get("induction").parse(reply)
    assert isinstance(draft, Draft)
    assert draft.message == "from the block"


def test_two_message_lines_are_ambiguous() -> None:
    reply = _code_and_inputs() + "\nMessage: one rule\n\nMessage: another rule\n"
    rejection = get("induction").parse(reply)
    assert isinstance(rejection, Rejection)
    assert "No message found" in rejection.reason


def test_message_line_inside_a_block_is_not_a_message() -> None:
    reply = _code_and_inputs() + "\n```\n# Message: not prose\n```"
    rejection = get("induction").parse(reply)
    assert isinstance(rejection, Rejection)
    assert "No message found" in rejection.reason


def test_copied_example_is_rejected() -> None:
    for env in ("induction", "deduction", "fuzzing"):
        environment = get(env)
        example = environment.seed_prompt(SEED)[2]
        assert example.role == "assistant"
        code = example_code(environment.functions)
        assert code is not None and code in example.content
        # The example reply answered back verbatim, or re-indented (same syntax tree): refused.
        for reply in (example.content, example.content.replace("    ", "  ")):
            rejection = environment.parse(reply)
            assert isinstance(rejection, Rejection), env
            assert "copied the example" in rejection.reason


def test_near_copies_of_the_example_are_rejected() -> None:
    """A small model re-answers the example with an import or a helper added, or keeps only its
    inputs under its own f: the example's problem either way."""
    for env in ("induction", "deduction", "fuzzing"):
        environment = get(env)
        example = environment.seed_prompt(SEED)[2].content
        code = example_code(environment.functions)
        assert code is not None
        padded = example.replace(code.rstrip(), "import os\n\n" + code.rstrip() + "\n\nX = 1")
        own_f = example.replace(code.rstrip(), code.rstrip().replace("return", "return 1 +", 1))
        for reply in (padded, own_f):
            rejection = environment.parse(reply)
            assert isinstance(rejection, Rejection), (env, reply)
            assert rejection.reason == COPIED_EXAMPLE
    # Its own f and its own inputs, one of which happens to be an example input: accepted.
    reply = (
        f"```python\n{F}```\n"
        + "\n".join(f"```input\n{i}\n```" for i in [*INPUTS[:4], "[], 2"])
        + "\n```message\nMultiply, add one.\n```"
    )
    assert isinstance(get("induction").parse(reply), Draft)


@pytest.mark.anyio
@pytest.mark.parametrize("env", ["induction", "abduction", "deduction", "fuzzing"])
async def test_example_reply_is_a_valid_problem(env: str, sandbox: Sandbox) -> None:
    """The worked example must itself be right: its code and inputs validate in the sandbox."""
    environment = get(env)
    code = example_code(environment.functions)
    assert code is not None
    draft = Draft(
        env=env,  # type: ignore[arg-type]
        code=code,
        inputs=example_inputs(environment.functions)[: environment.n_inputs],
        message="A hint." if environment.needs_message else "",
        witness="[-3, -1, -2]" if environment.needs_witness else None,
    )
    assert draft.inputs[0] in environment.seed_prompt(SEED)[2].content  # the example shown
    problem = await environment.validate(draft, sandbox)
    assert isinstance(problem, Problem), problem


def test_prompt_is_example_exchange_then_request_ending_with_the_format() -> None:
    for env in ("induction", "abduction", "deduction", "fuzzing"):
        environment = get(env)
        messages = environment.seed_prompt(SEED, feedback="No message found!")
        assert [m.role for m in messages] == ["system", "user", "assistant", "user"]
        assert "Example task" in messages[1].content
        assert SEED.text.strip() not in messages[1].content
        found = blocks(messages[2].content)
        kinds = [b.kind for b in found]
        assert kinds.count("python") == 1
        assert kinds.count("input") == environment.n_inputs
        assert ("message" in kinds) == environment.needs_message
        assert ("witness" in kinds) == environment.needs_witness
        user = messages[-1].content
        assert SEED.text.strip() in user
        assert "Example task" not in user
        reminder = user[user.index("Now write your own new problem") :]
        assert "```" not in reminder.splitlines()[0]  # a reply echoing it must not open a block
        assert f"{environment.n_inputs} input blocks" in reminder
        assert ("message block" in reminder) == environment.needs_message
        assert ("witness block" in reminder) == environment.needs_witness
        assert user.rstrip().endswith(
            "No message found!\nFix this and answer again in the required format."
        )
        for other in (
            environment.mutate_prompt(
                _problem(env), Summary(pass_rate=0.5, n_attempts=2, n_passed=1), "sibling"
            ),
            environment.top_down_prompt(SEED, "hard", None),
        ):
            assert other[1:3] == messages[1:3]


def _problem(env: str) -> Problem:
    return Problem(id="p", env=env, code=F, inputs=tuple(INPUTS), outputs=("3",) * 5)


def test_example_with_more_inputs_than_shown() -> None:
    messages = Deduction(n_inputs=7).seed_prompt(SEED)
    assert "2 more input blocks" in messages[2].content
    assert "7 input blocks" in messages[1].content
    assert "7 input blocks" in messages[-1].content


def test_mutate_prompt_aims_at_the_target_band() -> None:
    problem = Problem(
        id="p",
        env="deduction",
        code=F,
        inputs=tuple(INPUTS),
        outputs=("3", "13", "1", "-4", "-3"),
    )
    summary = Summary(pass_rate=1.0, n_attempts=4, n_passed=4)
    env = get("deduction")
    default = env.mutate_prompt(problem, summary, "harder")[-1].content
    assert "between 0.35 and 0.65" in default
    assert PROGRESSIONS["harder"] in default
    aimed = env.mutate_prompt(problem, summary, "easier", target=(0.2, 0.5))[-1].content
    assert "between 0.2 and 0.5" in aimed
    assert "0.35" not in aimed
    with pytest.raises(ConfigError, match="target"):
        env.mutate_prompt(problem, summary, "sibling", target=(0.7, 0.3))


def test_an_untagged_block_of_one_literal_per_line_gives_the_inputs() -> None:
    lines = "\n".join(f"f({i})" if n % 2 else i for n, i in enumerate(INPUTS))
    reply = f"```python\n{F}```\n```\n{lines}\n```\n```message\nMultiply, add one.\n```"
    draft = get("induction").parse(reply)
    assert isinstance(draft, Draft)
    assert draft.inputs == tuple(INPUTS)
    assert draft.message == "Multiply, add one."


def test_marked_inputs_win_over_an_untagged_block_of_literals() -> None:
    """Outputs listed in an untagged block after the input blocks are not read as inputs."""
    reply = _code_and_inputs() + "\n```\n3\n13\n1\n```\n```message\nMultiply, add one.\n```"
    draft = get("induction").parse(reply)
    assert isinstance(draft, Draft)
    assert draft.inputs == tuple(INPUTS)
    short = f"```python\n{F}```\n```input\n1, 2\n```\n```\n3, 4\n0, 0\n```"
    rejection = get("deduction").parse(short)
    assert isinstance(rejection, Rejection)
    assert rejection.reason == "Found 1 ```input blocks, need 5!"


def test_inputs_written_as_numbered_assignments() -> None:
    """`input1 = [3]` lines (in input blocks or a python block of them only) are the inputs."""
    assigned = [f"input{n} = {i}" for n, i in enumerate(INPUTS, 1)]
    in_blocks = f"```python\n{F}```\n" + "\n".join(f"```input\n{a}\n```" for a in assigned)
    in_python = f"```python\n{F}```\n```python\n" + "\n".join(assigned) + "\n```"
    for reply in (in_blocks, in_python):
        draft = get("deduction").parse(reply)
        assert isinstance(draft, Draft), reply
        assert draft.inputs == tuple(INPUTS)
    # Keyword arguments stay keyword arguments: an unnumbered name, or keywords after the "=".
    kwargs = f"```python\n{F}```\n" + "\n".join(f"```input\nb = {n}\n```" for n in range(5))
    draft = get("deduction").parse(kwargs)
    assert isinstance(draft, Draft)
    assert draft.inputs[0] == "b = 0"
    mixed = f"```python\n{F}```\n" + "".join(
        f"```input\ninput1 = {n}, b = 2\n```\n" for n in range(5)
    )
    draft = get("deduction").parse(mixed)
    assert isinstance(draft, Draft)
    assert draft.inputs[0] == "input1 = 0, b = 2"


@pytest.mark.parametrize("env", ["induction", "abduction", "deduction", "fuzzing"])
def test_a_later_turn_shows_the_previous_problem_as_the_teachers_own_reply(env: str) -> None:
    """Mutate and top-down prompts keep the format by example: the previous problem comes back
    as the assistant's earlier reply, in exactly the format that parses to the same problem."""
    environment = get(env)
    code = "def f(xs):\n    return max(xs)\n"
    if environment.needs_witness:
        code += "\n\ndef pre_test_f(xs):\n    return len(xs) > 0\n"
        code += "\n\ndef test_f(xs):\n    return f(xs) >= 0\n"
    problem = Problem(
        id="p",
        env=env,  # type: ignore[arg-type]
        code=code,
        inputs=("[4, 1]", "[2]", "[9, 9, 0]", "[1, 2, 3]", "[-5]"),
        outputs=("4", "2", "9", "3", "-5"),
        message="The largest one." if environment.needs_message else "",
        witness="[-1]" if environment.needs_witness else None,
    )
    summary = Summary(pass_rate=0.25, n_attempts=4, n_passed=1)
    later = [
        environment.mutate_prompt(problem, summary, "harder", feedback="No message found!"),
        environment.top_down_prompt(SEED, "medium", problem),
    ]
    for messages in later:
        assert [m.role for m in messages] == [
            *("system", "user", "assistant"),  # the worked example
            *("user", "assistant"),  # the task, and the previous problem as the reply to it
            "user",
        ]
        draft = environment.parse(messages[4].content)
        assert isinstance(draft, Draft), draft
        assert (draft.code, draft.inputs) == (problem.code.strip() + "\n", problem.inputs)
        assert draft.message == problem.message
        assert draft.witness == problem.witness
        last = messages[-1].content
        assert "- input 1: f returned 4" in last and "- input 5: f returned -5" in last
        assert "Write a NEW problem" in last  # not the previous reply again
        assert "```" not in last.split("Answer with fenced blocks only")[0].split("attempt")[0]
        assert f"{environment.n_inputs} input blocks" in last
    assert "pass rate 0.25" in later[0][-1].content
    assert later[0][-1].content.rstrip().endswith("answer again in the required format.")
    assert "previous, harder problem" in later[1][-1].content


def test_numbered_blocks_with_one_argument_per_line_are_one_call_each() -> None:
    """Five input blocks are five calls, even when each writes its arguments on two lines."""
    blocks_ = "".join(f"```input {n}\n[{n}, 2]\n'k{n}'\n```\n" for n in range(1, 6))
    draft = get("deduction").parse(f"```python\n{F}```\n{blocks_}")
    assert isinstance(draft, Draft)
    assert draft.inputs == tuple(f"[{n}, 2], 'k{n}'" for n in range(1, 6))


def test_one_function_under_another_name_is_read_as_f() -> None:
    code = "def fact(n):\n    return 1 if n < 2 else n * fact(n - 1)\n"
    reply = f"```python\n{code}```\n" + "\n".join(f"```input {i}\n{i}\n```" for i in range(1, 6))
    draft = get("deduction").parse(reply)
    assert isinstance(draft, Draft)
    assert draft.code.startswith("def f(n):\n    return 1 if n < 2 else n * fact(n - 1)")
    assert draft.code.rstrip().endswith("fact = f")  # recursion still finds its name
    # Two functions, or a class: which one is f is not clear, so the reply is refused.
    two = reply.replace(code, code + "\ndef g(x):\n    return x\n")
    for ambiguous in (two, reply.replace(code, code + "\nclass K:\n    pass\n")):
        rejection = get("deduction").parse(ambiguous)
        assert isinstance(rejection, Rejection)
        assert "must define `def f(...)`" in rejection.reason
    # Fuzzing needs three named functions: nothing is renamed there.
    assert isinstance(get("fuzzing").parse(reply), Rejection)


@pytest.mark.anyio
async def test_a_renamed_recursive_function_validates(sandbox: Sandbox) -> None:
    code = "def fact(n):\n    return 1 if n < 2 else n * fact(n - 1)\n"
    reply = f"```python\n{code}```\n" + "\n".join(f"```input {i}\n{i}\n```" for i in range(1, 6))
    draft = get("deduction").parse(reply)
    assert isinstance(draft, Draft)
    problem = await get("deduction").validate(draft, sandbox)
    assert isinstance(problem, Problem), problem
    assert problem.outputs == ("1", "2", "6", "24", "120")


def test_test_case_prints_are_cut_and_give_the_inputs_when_no_block_does() -> None:
    calls = "\n".join(f"print(f({i}))  # Output: ?" for i in INPUTS[:4]) + f"\nf({INPUTS[4]})\n"
    reply = f"```python\n{F}\n# Test cases\n{calls}```\n```message\nMultiply, add one.\n```"
    draft = get("induction").parse(reply)
    assert isinstance(draft, Draft)
    assert "print" not in draft.code and "f(1, 2)" not in draft.code
    assert draft.code.startswith(F)
    assert draft.inputs == tuple(INPUTS)
    # With input blocks, those are the inputs; the prints are still cut from the code.
    with_blocks = reply + "\n" + "\n".join(f"```input {n}\n{n}, 0\n```" for n in range(1, 6))
    draft = get("induction").parse(with_blocks)
    assert isinstance(draft, Draft)
    assert draft.inputs == tuple(f"{n}, 0" for n in range(1, 6))
    assert "print" not in draft.code
    # A print of something else is cut too; a call with a non-literal argument gives no input.
    odd = f"```python\n{F}\nprint('hi')\nprint(f(x, 1))\n```"
    rejection = get("deduction").parse(odd)
    assert isinstance(rejection, Rejection)
    assert rejection.reason.startswith("No input found!")
