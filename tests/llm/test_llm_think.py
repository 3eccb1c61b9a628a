"""Reasoning is kept apart from the answer."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from stepstones.llm import split_think


def test_split_think_cases() -> None:
    assert split_think("<think>plan</think>\n\nanswer") == ("plan", "answer")
    assert split_think("  <think>\nplan\n</think>answer") == ("plan", "answer")
    assert split_think("<think>still thinking") == ("still thinking", "")
    assert split_think("plan</think>answer") == ("plan", "answer")
    assert split_think("no reasoning here") == ("", "no reasoning here")
    text = "use <think>tags</think> like this"
    assert split_think(text) == ("", text)


_plain = st.text().filter(lambda s: "<think>" not in s and "</think>" not in s)


@given(_plain, _plain)
def test_split_think_roundtrip(reasoning: str, answer: str) -> None:
    got_reasoning, got_answer = split_think(f"<think>{reasoning}</think>{answer}")
    assert got_reasoning == reasoning.strip()
    assert got_answer == answer.lstrip()


@given(_plain)
def test_split_think_leaves_plain_text(text: str) -> None:
    assert split_think(text) == ("", text)
