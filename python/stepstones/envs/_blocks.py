"""Fenced blocks in LLM replies, read tolerantly.

Teachers and students wrap code and data in Markdown fences. Real replies are messy: ``<think>``
sections, CRLF line ends, missing or odd language tags (```` ```Python3 ````, ```` ```input 2 ````),
prose around the blocks, an unclosed last fence when the reply was cut off, and chat-template
residue such as ``<|im_end|>``. This module turns any of that into an ordered list of
:class:`Block`, with the ``<think>`` part kept apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Block", "blocks", "prose", "split_reasoning"]

# Tokens chat templates leave behind when a completion is decoded with special tokens.
_RESIDUE = r"(?:<\|[A-Za-z0-9_:. -]{1,40}\|>|</s>|<s>|\[/?INST\])"
_EDGE_RESIDUE = re.compile(
    rf"\A(?:\s*{_RESIDUE})+|(?:{_RESIDUE}\s*)+\Z|^[ \t]*(?:{_RESIDUE}[ \t]*)+$", re.MULTILINE
)
_RUN = re.compile(r"`{3,}|~{3,}")
_TAG_WORD = re.compile(r"[a-z_]+")

#: Language tags mapped to the kinds of block stepstones reads.
_ALIASES = {
    "py": "python",
    "python": "python",
    "python3": "python",
    "inputs": "input",
    "input": "input",
    "args": "input",
    "arguments": "input",
    "message": "message",
    "msg": "message",
    "hint": "message",
    "witness": "witness",
    "output": "output",
    "outputs": "output",
    "answer": "answer",
}


@dataclass(frozen=True, slots=True)
class Block:
    """One fenced block: its normalized kind ("" when the fence had no tag) and its text."""

    kind: str
    text: str
    closed: bool = True


def _normalize(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    # Residue is removed only where a template leaves it: at the very start or end of the text,
    # or as a line of its own. Inside a line it may be data (an input such as '<s>' or '[INST]'),
    # and data is never rewritten.
    return _EDGE_RESIDUE.sub("", text)


def _fenced_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of every fenced region (an unclosed last fence runs to the end)."""
    spans: list[tuple[int, int]] = []
    opened: int | None = None
    pos = 0
    for line in text.splitlines(keepends=True):
        if _RUN.match(line.lstrip()):
            if opened is None:
                opened = pos
            else:
                spans.append((opened, pos + len(line)))
                opened = None
        pos += len(line)
    if opened is not None:
        spans.append((opened, len(text)))
    return spans


def _tags_outside(low: str, tag: str, spans: list[tuple[int, int]]) -> list[int]:
    """Positions of ``tag`` in ``low`` that are not inside a fenced region (there it is data)."""
    found, pos = [], low.find(tag)
    while pos >= 0:
        if not any(a <= pos < b for a, b in spans):
            found.append(pos)
        pos = low.find(tag, pos + 1)
    return found


def split_reasoning(text: str) -> tuple[str, str]:
    """Split a reply into ``(answer, reasoning)`` around ``<think>…</think>``.

    Several think sections are all removed. A reply with ``</think>`` but no opening tag (some
    servers strip it) keeps only what follows the last ``</think>``. An opened but never closed
    section means the model was cut off while thinking: its text is reasoning, not answer. A tag
    inside a fenced block is data (an input may be the string ``'<think>'``), never a section.
    """
    text = _normalize(text)
    low = text.lower()
    if "<think>" not in low and "</think>" not in low:
        return text, ""
    reasoning: list[str] = []
    out: list[str] = []
    rest = text
    while True:
        # Fences are found again in what is left: a fence written inside a removed section
        # (reasoning with code in it) must not hide the answer's tags or blocks.
        low = rest.lower()
        spans = _fenced_spans(rest)
        opens = _tags_outside(low, "<think>", spans)
        if not opens:
            closes = [] if out else _tags_outside(low, "</think>", spans)
            if closes:  # no opening tag anywhere: some servers strip it
                return rest[closes[-1] + len("</think>") :], rest[: closes[-1]].strip()
            out.append(rest)
            break
        start = opens[0]
        out.append(rest[:start])
        end = low.find("</think>", start)
        if end < 0:
            reasoning.append(rest[start + len("<think>") :].strip())
            break
        reasoning.append(rest[start + len("<think>") : end].strip())
        rest = rest[end + len("</think>") :]
    return "".join(out), "\n\n".join(r for r in reasoning if r)


def _kind(tag: str) -> str:
    m = _TAG_WORD.match(tag.lower())
    if m is None:
        return ""
    return _ALIASES.get(m.group(0), m.group(0))


def blocks(text: str) -> list[Block]:
    """Every fenced block of ``text`` in order (``<think>`` sections excluded).

    Fences need not start a line: prose may precede an opening fence ("The answer is
    ```output"), whose tag is the rest of its line, and content may precede a closing fence
    ("42```") with more prose or another block after it. A closing fence uses the same
    characters, at least as many. Two fences on one line outside a block are inline code and
    skipped. A fence left open at the end of the text still yields its block, ``closed=False``.
    """
    return _scan(text)[0]


def prose(text: str) -> str:
    """The text of ``text`` outside its fenced blocks and ``<think>`` sections, line by line."""
    return _scan(text)[1]


def _scan(text: str) -> tuple[list[Block], str]:
    body, _ = split_reasoning(text)
    found: list[Block] = []
    outside: list[str] = []
    fence: str | None = None
    kind = ""
    lines: list[str] = []
    for line in body.split("\n"):
        rest = line
        pieces: list[str] = []
        while True:
            if fence is None:
                m = _RUN.search(rest)
                if m is None:
                    pieces.append(rest)
                    break
                after = rest[m.end() :]
                inline = _RUN.search(after)
                if inline is not None:
                    pieces.append(rest[: inline.end() + m.end()])
                    rest = after[inline.end() :]
                    continue
                pieces.append(rest[: m.start()])
                fence, kind, lines = m.group(0), _kind(after.strip()), []
                break
            close = next(
                (
                    r
                    for r in _RUN.finditer(rest)
                    if r.group(0)[0] == fence[0] and len(r.group(0)) >= len(fence)
                ),
                None,
            )
            if close is None:
                lines.append(rest)
                break
            if rest[: close.start()].strip():
                lines.append(rest[: close.start()])
            found.append(Block(kind, "\n".join(lines)))
            fence, rest = None, rest[close.end() :]
        if pieces:
            outside.append("".join(pieces))
    if fence is not None:
        found.append(Block(kind, "\n".join(lines), closed=False))
    return found, "\n".join(outside)
