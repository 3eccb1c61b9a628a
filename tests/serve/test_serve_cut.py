"""Cutting the response out of OpenRLHF's query (prompt + response with special tokens)."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from stepstones.serve import cut_response, strip_special
from stepstones.serve._cut import _truncated_overlap, longest_overlap

PROMPT = (
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "<|im_start|>user\nWhat does f(3) return?\n```python\ndef f(x):\n    return x * 2\n```"
    "<|im_end|>\n<|im_start|>assistant\n"
)
RESPONSE = "Doubling 3 gives 6.\n```output\n6\n```"


def test_exact_prefix_and_end_token() -> None:
    cut = cut_response(PROMPT + RESPONSE + "<|im_end|>", PROMPT)
    assert cut.method == "prefix"
    assert cut.response == RESPONSE


def test_left_truncated_prompt() -> None:
    # OpenRLHF keeps the last max_prompt_len tokens of a long prompt: the query starts inside it.
    query = PROMPT[60:] + RESPONSE + "<|endoftext|><|endoftext|>"
    cut = cut_response(query, PROMPT)
    assert cut.method == "truncated"
    assert cut.response == RESPONSE


def test_template_mismatch_finds_the_prompt_tail() -> None:
    # Decoding added a BOS and normalised a space inside the prompt; the tail still matches.
    query = "<|begin_of_text|>" + PROMPT.replace("helpful  ", "helpful ").replace(
        "You are", "You  are"
    )
    query += RESPONSE + "<|eot_id|>"
    cut = cut_response(query, PROMPT)
    assert cut.method == "tail"
    assert cut.response == RESPONSE


def test_unknown_prompt_falls_back_to_the_last_assistant_turn() -> None:
    query = PROMPT + RESPONSE + "<|im_end|>"
    cut = cut_response(query, "a prompt the trainer never sent")
    assert cut.method == "marker"
    assert cut.response.strip() == RESPONSE
    llama = (
        "<|start_header_id|>user<|end_header_id|>\n\nQ<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n" + RESPONSE + "<|eot_id|>"
    )
    assert cut_response(llama, None).response.strip() == RESPONSE


def test_plain_text_without_markers_keeps_everything_but_special_tokens() -> None:
    cut = cut_response("Q: f(3)?\n" + RESPONSE + "</s>", None)
    assert cut.method == "fallback"
    assert cut.response == "Q: f(3)?\n" + RESPONSE


def test_harmony_final_channel_is_preferred() -> None:
    text = (
        "<|channel|>analysis<|message|>```output\n5\n```<|end|>"
        "<|start|>assistant<|channel|>final<|message|>" + RESPONSE + "<|return|>"
    )
    assert strip_special(text) == RESPONSE


@pytest.mark.parametrize("tok", ["<|im_end|>", "<|endoftext|>", "</s>", "<|eot_id|>", "<eos>"])
def test_response_ends_at_the_first_end_token(tok: str) -> None:
    assert strip_special(RESPONSE + tok + "<|pad|>" + "junk") == RESPONSE


_text = st.text(st.characters(blacklist_characters="<|>"), max_size=300)


@given(prompt=_text, response=_text)
def test_prefix_cut_recovers_any_response(prompt: str, response: str) -> None:
    assert cut_response(prompt + response + "<|im_end|>", prompt).response == response


@given(prompt=st.text(min_size=100, max_size=400), response=_text, keep=st.integers(50, 99))
def test_truncated_cut_recovers_any_response(prompt: str, response: str, keep: int) -> None:
    suffix = prompt[-keep:]
    # Only unambiguous cases: the kept part's opening occurs nowhere earlier in the prompt.
    assume(prompt.find(suffix[:48]) == len(prompt) - keep)
    cut = cut_response(suffix + response, prompt)
    assert cut.method == "truncated"
    assert cut.response == strip_special(response)


# --- linear time on periodic prompts (issue 10, finding 3) ---------------------------------------
def _reference_overlap(query: str, prompt: str) -> int | None:
    """The plain definition: the longest prompt suffix, at least the probe long, that the
    query starts with."""
    probe = query[:48]
    if len(probe) < min(48, len(prompt)) or not probe:
        return None
    for start in range(len(prompt) - len(probe) + 1):
        if query.startswith(prompt[start:]):
            return len(prompt) - start
    return None


_periodic = st.builds(
    lambda unit, reps, head, tail: head + unit * reps + tail,
    st.text("ab", min_size=1, max_size=5),
    st.integers(0, 60),
    st.text("abc", max_size=5),
    st.text("abc", max_size=5),
)


@settings(max_examples=300)
@given(prompt=_periodic, cut=st.integers(0, 400), extra=st.text("abc", max_size=80))
def test_truncated_overlap_matches_the_definition(prompt: str, cut: int, extra: str) -> None:
    for query in (prompt[cut:] + extra, extra + prompt[cut:]):
        assert _truncated_overlap(query, prompt) == _reference_overlap(query, prompt)


@given(head=st.text("ab", max_size=40), tail=st.text("ab", max_size=300))
def test_longest_overlap_matches_the_definition(head: str, tail: str) -> None:
    best = max(n for n in range(min(len(head), len(tail)) + 1) if head.endswith(tail[:n]))
    assert longest_overlap(head, tail) == best


@pytest.mark.timeout(20)  # the quadratic search took about 1 s at 200 kB, a minute here
def test_a_long_periodic_prompt_is_cut_in_linear_time() -> None:
    n = 1_500_000
    prompt = "a" * n
    # The probe matches at every position and each candidate fails half-way along.
    query = "a" * (n // 2) + "b" + "a" * (n // 2) + RESPONSE
    cut = cut_response(query, prompt)
    assert (cut.method, cut.response) == ("truncated", query[n // 2 :])
