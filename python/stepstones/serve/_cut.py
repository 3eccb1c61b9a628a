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

import msgspec

__all__ = ["ASSISTANT_MARKERS", "END_TOKENS", "Cut", "cut_response", "strip_special"]

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
    """Length of the longest prompt suffix that the query starts with, when it is long enough."""
    probe = query[:_PROBE]
    if len(probe) < min(_PROBE, len(prompt)) or not probe:
        return None
    start = prompt.find(probe)
    while start >= 0:
        if query.startswith(prompt[start:]):
            return len(prompt) - start
        start = prompt.find(probe, start + 1)
    return None


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
