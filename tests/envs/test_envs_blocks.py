"""Fenced blocks and think sections in messy LLM replies."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from stepstones.envs import blocks, split_reasoning


def test_tags_are_normalized_and_order_kept() -> None:
    text = "intro\n```Python3\nx = 1\n```\n```input 2\n1, 2\n```\n~~~\nplain\n~~~\n"
    found = blocks(text)
    assert [(b.kind, b.text) for b in found] == [
        ("python", "x = 1"),
        ("input", "1, 2"),
        ("", "plain"),
    ]


def test_crlf_and_chat_residue() -> None:
    text = "```output\r\n[1, 2]\r\n```<|im_end|></s>"
    assert [(b.kind, b.text) for b in blocks(text)] == [("output", "[1, 2]")]


def test_fences_mid_line() -> None:
    text = "So the answer is ```output\n42``` and then ```output\n43\n```"
    assert [b.text for b in blocks(text)] == ["42", "43"]


def test_inline_code_is_not_a_block() -> None:
    assert blocks("use ```x``` here\n```input\n1\n```") == blocks("```input\n1\n```")


def test_unclosed_block_is_kept_and_marked() -> None:
    (block,) = blocks("```python\ndef f():\n    return 1")
    assert block.kind == "python"
    assert not block.closed
    assert "return 1" in block.text


def test_longer_fence_contains_shorter() -> None:
    text = "````python\ns = '```'\n```\n````"
    (block,) = blocks(text)
    assert block.text == "s = '```'\n```"


def test_think_sections_are_reasoning() -> None:
    body, reasoning = split_reasoning("<think>a ```output\n1\n```</think>B<THINK>c</THINK>D")
    assert body == "BD"
    assert reasoning == "a ```output\n1\n```\n\nc"
    assert blocks("<think>```output\n1\n```</think>") == []


def test_think_tags_inside_a_fenced_block_are_data() -> None:
    reply = "```input\nNone, '<THINK>'\n```\n```input\n'</think>', 2\n```"
    body, reasoning = split_reasoning(reply)
    assert (body, reasoning) == (reply, "")
    assert [b.text for b in blocks(body)] == ["None, '<THINK>'", "'</think>', 2"]
    # A real section before the blocks is still taken out.
    body, reasoning = split_reasoning("<think>hm</think>\n" + reply)
    assert (body.strip(), reasoning) == (reply, "hm")


def test_only_closing_think_tag() -> None:
    body, reasoning = split_reasoning("I thought hard</think>\n```output\n1\n```")
    assert reasoning == "I thought hard"
    assert [b.text for b in blocks(body)] == ["1"]


def test_unclosed_think_is_all_reasoning() -> None:
    body, reasoning = split_reasoning("ok <think>still thinking ```output\n1\n```")
    assert body == "ok "
    assert "still thinking" in reasoning


@given(
    st.lists(st.text(alphabet=st.characters(blacklist_characters="`~\r<"), max_size=40), max_size=6)
)
def test_round_trip_of_rendered_blocks(texts: list[str]) -> None:
    texts = [t.strip("\n") for t in texts]
    rendered = "\n".join(f"prose\n```input\n{t}\n```" for t in texts)
    assert [b.text for b in blocks(rendered)] == [t for t in texts]


@given(st.text(max_size=300))
def test_never_raises(text: str) -> None:
    for block in blocks(text):
        assert isinstance(block.text, str)
