"""Cutting the response out of an OpenRLHF ``query`` (prompt + response, special tokens kept).

OpenRLHF decodes the whole token sequence with ``skip_special_tokens=False`` and sends the
original prompt text beside it. The two usually agree on a prefix, but not always: the trainer
truncates long prompts from the left, and decoding can differ from the templated text. The cut
tries, in order: exact prefix; a left-truncated prompt (the query starts inside the prompt);
the prompt's tail found in the query. Special tokens end the response (anything after an
end-of-turn token is padding), and a gpt-oss "final" channel is preferred over its analysis.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import anyio
import msgspec

__all__ = [
    "ASSISTANT_MARKERS",
    "END_TOKENS",
    "OFFLOAD_CHARS",
    "Cut",
    "cut_response",
    "cut_responses",
    "strip_special",
]

#: End-of-turn / end-of-text markers of common chat templates; the response ends at the first.
END_TOKENS: tuple[str, ...] = (
    "<|im_end|>",
    "<|endoftext|>",
    "<|eot_id|>",
    "<|eom_id|>",
    "<|end_of_text|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<end_of_turn>",
    "<｜end▁of▁sentence｜>",
    "</s>",
    "<eos>",
)
#: Where chat templates open the assistant's turn; the fallback cut starts after the last one.
ASSISTANT_MARKERS: tuple[str, ...] = (
    "<|start_header_id|>assistant<|end_header_id|>",
    "<|im_start|>assistant",
    "<|start|>assistant",
    "<|assistant|>",
    "<｜Assistant｜>",
    "<start_of_turn>model",
    "[/INST]",
)
#: Padding and turn-start markers that may lead the response; removed wherever they appear.
_NOISE: tuple[str, ...] = ("<|pad|>", "<pad>", *ASSISTANT_MARKERS)
_END_RE = re.compile("|".join(re.escape(t) for t in END_TOKENS))
_NOISE_RE = re.compile("|".join(re.escape(t) for t in _NOISE))
_FINAL = "<|channel|>final<|message|>"
_TAILS = (256, 96, 32, 12)
_PROBE = 48
#: Requests with more text than this (characters) are parsed in a worker thread: every step is
#: linear, but a 16 MiB body still takes a while, and the event loop must keep answering.
OFFLOAD_CHARS = 64 * 1024
#: Occurrences of the probe checked one by one before the linear pass takes over.
_DIRECT_TRIES = 8


class Cut(msgspec.Struct, frozen=True):
    """The response and how it was found: prefix, truncated, tail or fallback."""

    response: str
    method: str


def strip_special(text: str, *, cut_at_end: bool = True) -> str:
    """Prefer a gpt-oss final channel, cut at the first end-of-turn token (or, when the text
    may still hold the prompt, only delete those tokens), and drop padding/turn markers."""
    if "<" not in text and "[/INST]" not in text:
        return text
    final = text.rfind(_FINAL)
    if final >= 0:
        text = text[final + len(_FINAL) :]
    if cut_at_end:
        end = _END_RE.search(text)
        if end is not None:
            text = text[: end.start()]
    else:
        text = _END_RE.sub("", text)
    return _NOISE_RE.sub("", text)


def _after_last_marker(query: str) -> str | None:
    best = -1
    for m in ASSISTANT_MARKERS:
        at = query.rfind(m)
        if at >= 0:
            best = max(best, at + len(m))
    return None if best < 0 else query[best:]


def _truncated_overlap(query: str, prompt: str) -> int | None:
    """Length of the longest prompt suffix that the query starts with, when it is long enough
    (at least the probe: the query's first ``_PROBE`` characters, all of a shorter query).

    Linear in the lengths: the first few places the probe occurs are checked directly (the
    common case, found in C); a periodic prompt, where the probe occurs everywhere, is settled
    by one pass of a prefix automaton instead of one comparison per occurrence.
    """
    probe = query[:_PROBE]
    if len(probe) < min(_PROBE, len(prompt)) or not probe:
        return None
    start = prompt.find(probe)
    for _ in range(_DIRECT_TRIES):
        if start < 0:
            return None
        if query.startswith(prompt[start:]):
            return len(prompt) - start
        start = prompt.find(probe, start + 1)
    if start < 0:
        return None
    overlap = longest_overlap(prompt[start:], query)
    return overlap if overlap >= len(probe) else None


def longest_overlap(head: str, tail: str) -> int:
    """The largest ``n`` such that ``head`` ends with ``tail[:n]``, in O(len(head) + len(tail)).

    Knuth-Morris-Pratt: the failure table of ``tail[:m]`` (m = the shorter length), then the
    automaton run over the last ``m`` characters of ``head``; its final state is the answer.
    """
    m = min(len(head), len(tail))
    if m == 0:
        return 0
    pattern = tail[:m]
    fail = [0] * m
    k = 0
    for i in range(1, m):
        c = pattern[i]
        while k and pattern[k] != c:
            k = fail[k - 1]
        if pattern[k] == c:
            k += 1
        fail[i] = k
    k = 0
    for c in head[len(head) - m :]:
        while k and (k == m or pattern[k] != c):
            k = fail[k - 1]
        if k < m and pattern[k] == c:
            k += 1
    return k


def _tail_end(query: str, prompt: str) -> int | None:
    """Where the prompt's tail ends in the query (first occurrence of the longest tail found)."""
    for n in _TAILS:
        if len(prompt) < n and n != _TAILS[-1]:
            continue
        tail = prompt[-n:]
        if not tail.strip():
            continue
        at = query.find(tail)
        if at >= 0:
            return at + len(tail)
    return None


def cut_response(query: str, prompt: str | None) -> Cut:
    """The student's response inside ``query``; never raises. Without a usable prompt, the text
    after the last assistant-turn marker, else the whole query."""
    if prompt:
        if query.startswith(prompt):
            return Cut(strip_special(query[len(prompt) :]), "prefix")
        overlap = _truncated_overlap(query, prompt)
        if overlap is not None:
            return Cut(strip_special(query[overlap:]), "truncated")
        end = _tail_end(query, prompt)
        if end is not None:
            return Cut(strip_special(query[end:]), "tail")
    after = _after_last_marker(query)
    if after is not None:
        return Cut(strip_special(after), "marker")
    # Nothing locates the prompt: keep the whole text (the extractor takes the *last* answer
    # block, which is the response's), minus special tokens.
    return Cut(strip_special(query, cut_at_end=False), "fallback")


async def cut_responses(queries: Sequence[str], prompts: Sequence[str | None]) -> list[str]:
    """:func:`cut_response` of every (query, prompt) pair, in order; a request bigger than
    :data:`OFFLOAD_CHARS` is cut in a worker thread so other requests are served meanwhile."""

    size = sum(map(len, queries)) + sum(len(p) for p in prompts if p)
    if size <= OFFLOAD_CHARS:
        return [cut_response(q, p).response for q, p in zip(queries, prompts, strict=True)]
    return await anyio.to_thread.run_sync(_cut_all, queries, prompts)


def _cut_all(queries: Sequence[str], prompts: Sequence[str | None]) -> list[str]:
    return [cut_response(q, p).response for q, p in zip(queries, prompts, strict=True)]
