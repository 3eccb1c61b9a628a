"""Fenced blocks and think sections in messy LLM replies."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stepstones.envs import blocks, split_reasoning
from stepstones.envs._blocks import _normalize


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


# --- linear time on adversarial replies (issue 10, finding 3) ------------------------------------
def _reference_split(text: str) -> tuple[str, str]:
    """The obvious definition: find the fences afresh in what is left after every section."""
    text = _normalize(text)
    low = text.lower()
    if "<think>" not in low and "</think>" not in low:
        return text, ""

    def fenced_spans(t: str) -> list[tuple[int, int]]:
        spans, opened, pos = [], None, 0
        for line in t.splitlines(keepends=True):
            if line.lstrip()[:3] in ("```", "~~~"):
                if opened is None:
                    opened = pos
                else:
                    spans.append((opened, pos + len(line)))
                    opened = None
            pos += len(line)
        if opened is not None:
            spans.append((opened, len(t)))
        return spans

    def outside(t: str, tag: str, spans: list[tuple[int, int]]) -> list[int]:
        return [
            i
            for i in range(len(t))
            if t.startswith(tag, i) and not any(a <= i < b for a, b in spans)
        ]

    reasoning: list[str] = []
    out: list[str] = []
    rest = text
    while True:
        low, spans = rest.lower(), fenced_spans(rest)
        opens = outside(low, "<think>", spans)
        if not opens:
            closes = [] if out else outside(low, "</think>", spans)
            if closes:
                return rest[closes[-1] + 8 :], rest[: closes[-1]].strip()
            out.append(rest)
            break
        start = opens[0]
        out.append(rest[:start])
        end = low.find("</think>", start)
        if end < 0:
            reasoning.append(rest[start + 7 :].strip())
            break
        reasoning.append(rest[start + 7 : end].strip())
        rest = rest[end + 8 :]
    return "".join(out), "\n\n".join(r for r in reasoning if r)


_SOUP = st.lists(
    st.sampled_from(
        [
            "<think>", "</think>", "<THINK>", "</Think>", "<think", "think>", "```", "~~~",
            "````", "```py", "  ```", "\t~~~~", "\n", "\n\n", " ", "x", "a\n", "\x0b",
            "\u2028", "\x85", "\u212a", "<|im_end|>", "<s>",
        ]
    ),
    max_size=40,
).map("".join)  # fmt: skip


@settings(max_examples=400)
@given(_SOUP)
def test_split_reasoning_matches_the_reference_on_tag_soup(text: str) -> None:
    assert split_reasoning(text) == _reference_split(text)


@given(st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=60))
def test_split_reasoning_matches_the_reference_on_any_text(text: str) -> None:
    if len(text.lower()) == len(text):  # a few letters lower to two ('İ'): see the next test
        assert split_reasoning(text) == _reference_split(text)


def test_letters_that_lower_to_two_do_not_shift_the_cut() -> None:
    assert split_reasoning("İ<think>why</think>answer") == ("İanswer", "why")


@pytest.mark.timeout(30)  # the quadratic version needs hours here; linear takes about a second
@pytest.mark.parametrize(
    "text",
    [
        "<think>x</think>y" * 200_000,
        "```\n<think>x</think>\n```\n" * 100_000,
        "<THINK>\n```py\n</think>~~~\n" * 50_000,
        "</think>" * 200_000,
    ],
    ids=["pairs", "fenced-pairs", "fences-in-sections", "closes-only"],
)
def test_split_reasoning_is_linear_on_adversarial_tag_soup(text: str) -> None:
    body, _ = split_reasoning(text)
    assert len(body) <= len(text)


@pytest.mark.timeout(30)
def test_blocks_is_linear_on_a_line_of_fences() -> None:
    assert blocks("a``` ```b " * 300_000) == []  # inline code, 300,000 times on one line
    assert len(blocks("```\n" + "~~~ " * 200_000 + "\n```")) == 1
