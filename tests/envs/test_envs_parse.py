"""Teacher replies → drafts or rejections the teacher can act on."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stepstones.envs import get
from stepstones.records import Draft, Rejection

F = "def f(name, info):\n    return name + str(info['age'])\n"
INPUTS = [
    "'John', {'age': 20}",
    "'A', {'age': 1}",
    "'B', {'age': 2}",
    "'C', {'age': 3}",
    "'D', {'age': 4}",
]


def _reply(
    *, code: str = F, inputs: list[str] = INPUTS, message: str | None = "Join name and age."
) -> str:
    parts = ["Let me write it.", f"```python\n{code}```"]
    parts += [f"```input\n{i}\n```" for i in inputs]
    if message is not None:
        parts.append(f"```message\n{message}\n```")
    return "\n\n".join(parts)


def test_clean_reply() -> None:
    draft = get("induction").parse(_reply())
    assert isinstance(draft, Draft)
    assert draft.env == "induction"
    assert draft.code == F
    assert draft.inputs == tuple(INPUTS)
    assert draft.message == "Join name and age."


def test_messy_reply() -> None:
    reply = (
        "<think>first I consider ```python\ndef f(): pass\n```</think>\r\n"
        "Sure! Here it is:\r\n```py\r\n" + F.replace("\n", "\r\n") + "```\r\n"
        "Inputs:\n```input 1\nf('John', {'age': 20})\n```\n"
        "```\n'A', {'age': 1}\n```\n"
        "```inputs\n'B', {'age': 2}\n```\n"
        "and ```input\n'C', {'age': 3}```\n"
        "```input\n'D', {'age': 4}\n```\n"
        "```message\nJoin name and age.\n```<|im_end|>"
    )
    draft = get("induction").parse(reply, reasoning="server reasoning")
    assert isinstance(draft, Draft)
    assert draft.code == F
    assert draft.inputs == tuple(INPUTS)
    assert draft.reasoning.startswith("server reasoning")
    assert "first I consider" in draft.reasoning


def test_one_block_with_one_input_per_line() -> None:
    reply = f"```python\n{F}```\n```input\n" + "\n".join(INPUTS) + "\n```\n```message\nm\n```"
    draft = get("induction").parse(reply)
    assert isinstance(draft, Draft)
    assert draft.inputs == tuple(INPUTS)


def test_extra_inputs_are_cut_and_code_blocks_combined() -> None:
    reply = (
        "```python\nimport math\n\ndef helper(x):\n    return math.floor(x)\n```\n"
        "```python\ndef f(x):\n    return helper(x)\n```\n"
        + "\n".join(f"```input\n{i}.5\n```" for i in range(7))
    )
    draft = get("deduction").parse(reply)
    assert isinstance(draft, Draft)
    assert "def helper" in draft.code
    assert "def f" in draft.code
    assert len(draft.inputs) == 5


def test_last_complete_python_block_wins() -> None:
    reply = (
        "```python\ndef f(x):\n    return 1\n```\n```python\ndef f(x):\n    return 2\n```\n"
        + "\n".join(f"```input\n{i}\n```" for i in range(5))
    )
    draft = get("deduction").parse(reply)
    assert isinstance(draft, Draft)
    assert "return 2" in draft.code
    assert "return 1" not in draft.code


@pytest.mark.parametrize(
    ("env", "reply", "reason"),
    [
        ("induction", _reply(message=None), "No message found!"),
        ("induction", _reply(message="def f(x): return x"), "in words"),
        ("induction", "I cannot do that.", "No fenced code blocks found!"),
        ("deduction", _reply(code="x = 1\n"), "must define `def f(...)`"),
        ("deduction", _reply(code="def f(:\n"), "syntax error"),
        ("deduction", _reply(inputs=INPUTS[:3]), "Found 3 ```input blocks, need 5!"),
        ("deduction", _reply(inputs=[]), "No input found!"),
        ("deduction", _reply(inputs=[*INPUTS[:4], "__import__('os')"]), "Input 5 is not"),
        ("deduction", "```input\n1\n```", "No python block found!"),
        ("fuzzing", _reply(), "pre_test_f"),
    ],
)
def test_rejections_are_actionable(env: str, reply: str, reason: str) -> None:
    result = get(env).parse(reply)
    assert isinstance(result, Rejection)
    assert result.kind == "format"
    assert reason in result.reason


FUZZ = (
    "def f(xs):\n    return sorted(xs)[:-1]\n\n"
    "def pre_test_f(xs):\n    return isinstance(xs, list)\n\n"
    "def test_f(xs):\n    return len(f(xs)) == len(xs)\n"
)


def test_fuzzing_needs_a_witness() -> None:
    reply = _reply(code=FUZZ, inputs=["[]", "[1]", "[1, 2]", "[3]", "[4]"], message=None)
    missing = get("fuzzing").parse(reply)
    assert isinstance(missing, Rejection)
    assert "No witness found!" in missing.reason
    draft = get("fuzzing").parse(reply + "\n```witness\n[5, 6]\n```")
    assert isinstance(draft, Draft)
    assert draft.witness == "[5, 6]"
    bad = get("fuzzing").parse(reply + "\n```witness\nopen('x')\n```")
    assert isinstance(bad, Rejection)
    assert "witness" in bad.reason


@given(st.text(max_size=400))
def test_any_text_gives_a_draft_or_rejection(text: str) -> None:
    for name in ("induction", "abduction", "deduction", "fuzzing"):
        assert isinstance(get(name).parse(text), Draft | Rejection)


@pytest.mark.parametrize(
    ("env", "completion", "answer"),
    [
        (
            "deduction",
            "so\n```output\n[1, 2]\n```\nwait\n```output\n(1, 2)\n```<|im_end|>",
            "(1, 2)",
        ),
        ("deduction", "<think>```output\n1\n```</think>```output\n2\n```", "2"),
        ("deduction", "```\n'x'\n```", "'x'"),
        ("deduction", "```python\n3\n```", "3"),
        ("deduction", "the answer is 3", None),
        ("deduction", "```output\n\n```", None),
        ("deduction", "<think>never finished ```output\n1\n```", None),
        ("abduction", "```input\nf('a', [1])\n```", "'a', [1]"),
        ("fuzzing", "```python\nprint(1)\n```\n```input\n[3, 1]\n```", "[3, 1]"),
        ("induction", "```python\ndef f(x):\n    return x\n```", "def f(x):\n    return x\n"),
        (
            "induction",
            "```python\ndef g(): pass\n```\nfinal:\n```python\ndef f(x):\n    return 1\n```",
            "def f(x):\n    return 1\n",
        ),
        ("induction", "```output\n1\n```", None),
        (
            "induction",
            "```python\ndef f(x):\n    return 2\n```\nTest:\n```python\nprint(f(3))\n```",
            "def f(x):\n    return 2\n",
        ),
    ],
)
def test_extract(env: str, completion: str, answer: str | None) -> None:
    assert get(env).extract(completion) == answer


_literals = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(
    st.integers(-1000, 1000),
    st.lists(st.tuples(_literals, _literals), min_size=5, max_size=5, unique_by=repr),
    st.text(alphabet=st.characters(blacklist_characters="`~<\r"), min_size=1, max_size=60).filter(
        lambda t: t.strip() and "def " not in t
    ),
    st.sampled_from(["\n", "\r\n"]),
)
def test_rendered_reply_round_trips(
    k: int, pairs: list[tuple[object, object]], message: str, newline: str
) -> None:
    from stepstones import _literal
    from stepstones.envs._prompts import fence

    code = f"def f(a, b):\n    return [a, b, {k}]\n"
    inputs = [f"{_literal.dump(a)}, {_literal.dump(b)}" for a, b in pairs]
    reply = "\n\n".join(
        ["Here is my problem.", fence("python", code)]
        + [fence("input", i) for i in inputs]
        + [fence("message", message)]
    ).replace("\n", newline)
    draft = get("induction").parse(reply)
    assert isinstance(draft, Draft), draft
    assert draft.code == code
    assert draft.inputs == tuple(inputs)
    assert draft.message == message.strip()
