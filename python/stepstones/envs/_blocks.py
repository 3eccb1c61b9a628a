"""Fenced blocks in LLM replies, read tolerantly.

Teachers and students wrap code and data in Markdown fences. Real replies are messy: ``<think>``
sections, CRLF line ends, missing or odd language tags (```` ```Python3 ````, ```` ```input 2 ````),
prose around the blocks, an unclosed last fence when the reply was cut off, and chat-template
residue such as ``<|im_end|>``. This module turns any of that into an ordered list of
:class:`Block`, with the ``<think>`` part kept apart.
"""

from __future__ import annotations

import bisect
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
#: A fence line: blanks, then a run of three or more backticks or tildes.
_FENCE_LINE = re.compile(r"\s*(?:`{3,}|~{3,})")
_OPEN, _CLOSE = "<think>", "</think>"

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


class _Lines:
    """Line geometry of a text, computed once, so that "is this position inside a fenced
    region of the text that starts at ``p``?" costs O(log n) for any ``p``.

    Fences are lines whose first non-blank characters are a run of backticks or tildes; they
    toggle: an opening fence line, the lines after it and the closing fence line form a fenced
    region (an unclosed last fence runs to the end). For the text ``text[p:]`` the first line is
    the rest of the line holding ``p`` (a fence only if *that rest* starts like one), and every
    later line is a line of ``text``. So one pass over the lines (fence flags and their running
    count) answers the question for every cut point ``p``: a position in a later line ``k`` is
    fenced iff line ``k`` is a fence line or an odd number of fence lines (the first, partial
    line counted by its own flag) precede it.
    """

    __slots__ = ("bounds", "fences_before", "is_fence", "starts", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts: list[int] = []
        self.bounds: list[int] = []  # where each line ends, its line break included
        self.is_fence: list[bool] = []
        self.fences_before: list[int] = []  # fence lines before line i
        pos = count = 0
        for line in text.splitlines(keepends=True):
            fence = _FENCE_LINE.match(line) is not None
            self.starts.append(pos)
            pos += len(line)
            self.bounds.append(pos)
            self.is_fence.append(fence)
            self.fences_before.append(count)
            count += fence

    def cut(self, p: int) -> tuple[int, bool]:
        """The line holding ``p`` and whether ``text[p:]``'s first line is a fence line."""
        j = bisect.bisect_right(self.starts, p) - 1
        if j < 0 or p >= len(self.text):
            return j, False
        if p == self.starts[j]:
            return j, self.is_fence[j]
        return j, _FENCE_LINE.match(self.text, p, self.bounds[j]) is not None

    def fenced(self, t: int, j: int, first_is_fence: bool) -> bool:
        """Whether position ``t`` (at or after the cut in line ``j``) is inside a fenced region
        of the text that starts at that cut."""
        k = bisect.bisect_right(self.starts, t) - 1
        if k == j:
            return first_is_fence
        if self.is_fence[k]:
            return True
        before = first_is_fence + self.fences_before[k] - self.fences_before[j + 1]
        return before % 2 == 1


def _lower(text: str) -> str:
    """``text`` lower-cased position for position (a tag found in it is at the same index)."""
    low = text.lower()
    if len(low) == len(text):
        return low
    # A few characters lower to two ('İ' -> 'i̇'); keep those as they are so indices agree.
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


def _positions(low: str, tag: str) -> list[int]:
    """Every index of ``tag`` in ``low``, ascending (think tags cannot overlap themselves)."""
    return [m.start() for m in re.finditer(re.escape(tag), low)]


def split_reasoning(text: str) -> tuple[str, str]:
    """Split a reply into ``(answer, reasoning)`` around ``<think>…</think>``.

    Several think sections are all removed. A reply with ``</think>`` but no opening tag (some
    servers strip it) keeps only what follows the last ``</think>``. An opened but never closed
    section means the model was cut off while thinking: its text is reasoning, not answer. A tag
    inside a fenced block is data (an input may be the string ``'<think>'``), never a section.
    Fences are read afresh after each removed section (a fence written inside the reasoning
    must not hide the answer's tags or blocks).

    Time is O(n log n) in the reply's length whatever its tags: every tag and every line is
    looked at a bounded number of times (a policy that degenerates into repeating tags sends
    replies with thousands of them).
    """
    text = _normalize(text)
    low = _lower(text)
    if _OPEN not in low and _CLOSE not in low:
        return text, ""
    opens, closes = _positions(low, _OPEN), _positions(low, _CLOSE)
    lines = _Lines(text)
    reasoning: list[str] = []
    out: list[str] = []
    p = oi = ci = 0  # the cut (start of what is left), next open tag, next close tag
    while True:
        j, first_is_fence = lines.cut(p)
        # Tags skipped here lie before the section found next, so before every later cut.
        while oi < len(opens) and (opens[oi] < p or lines.fenced(opens[oi], j, first_is_fence)):
            oi += 1
        if oi == len(opens):
            if not out:  # no opening tag anywhere: some servers strip it
                for c in reversed(closes):
                    if not lines.fenced(c, j, first_is_fence):
                        return text[c + len(_CLOSE) :], text[:c].strip()
            out.append(text[p:])
            break
        start = opens[oi]
        out.append(text[p:start])
        while ci < len(closes) and closes[ci] < start:
            ci += 1
        if ci == len(closes):
            reasoning.append(text[start + len(_OPEN) :].strip())
            break
        end = closes[ci]
        reasoning.append(text[start + len(_OPEN) : end].strip())
        p = end + len(_CLOSE)
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
        # Positions, not slices: a line of thousands of fences costs one pass, not one copy each.
        pos = 0
        pieces: list[str] = []
        while True:
            if fence is None:
                m = _RUN.search(line, pos)
                if m is None:
                    pieces.append(line[pos:])
                    break
                inline = _RUN.search(line, m.end())
                if inline is not None:
                    pieces.append(line[pos : inline.end()])
                    pos = inline.end()
                    continue
                pieces.append(line[pos : m.start()])
                fence, kind, lines = m.group(0), _kind(line[m.end() :].strip()), []
                break
            close = next(
                (
                    r
                    for r in _RUN.finditer(line, pos)
                    if r.group(0)[0] == fence[0] and len(r.group(0)) >= len(fence)
                ),
                None,
            )
            if close is None:
                lines.append(line[pos:])
                break
            if line[pos : close.start()].strip():
                lines.append(line[pos : close.start()])
            found.append(Block(kind, "\n".join(lines)))
            fence, pos = None, close.end()
        if pieces:
            outside.append("".join(pieces))
    if fence is not None:
        found.append(Block(kind, "\n".join(lines), closed=False))
    return found, "\n".join(outside)
