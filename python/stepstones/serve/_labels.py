"""Reading a trainer label back into the Problem it was exported from.

Exports write the label as the problem's versioned JSON text (``records.encode_json``). Trainers
may hand it back as that text, as the parsed dict (verl and ``datasets`` sometimes parse JSON
columns), or as a bare Problem dict without the version envelope; all three are accepted.
"""

from __future__ import annotations

from typing import Any

import msgspec

from stepstones import records
from stepstones.errors import RecordError
from stepstones.records import Problem

__all__ = ["LabelError", "parse_label"]

_json = msgspec.json.Encoder()


class LabelError(ValueError):
    """The label cannot be read as a Problem; the message says why (shown in logs only)."""


#: Parsed text labels, newest last: a GRPO group sends the same label n times in a row.
_CACHE_SIZE = 4096
_cache: dict[str, Problem] = {}


def parse_label(label: Any) -> Problem:
    """The Problem in ``label`` (JSON text, envelope dict or bare problem dict)."""
    if isinstance(label, bytes | bytearray):
        label = bytes(label).decode("utf-8", "replace")
    if isinstance(label, str):
        cached = _cache.get(label)
        if cached is not None:
            return cached
        problem = _parse_text(label)
        if len(_cache) >= _CACHE_SIZE:
            del _cache[next(iter(_cache))]
        _cache[label] = problem
        return problem
    return _parse_object(label)


def _parse_text(label: str) -> Problem:
    try:  # the fast path: exactly what `stepstones export` wrote
        return records.decode_json(label, Problem)
    except RecordError:
        pass
    text = label.strip()
    if not text.startswith("{"):
        raise LabelError(
            "label is not a stepstones problem (expected the JSON written by "
            f"`stepstones export`), got text starting {text[:40]!r}"
        )
    try:
        obj = msgspec.json.decode(text)
    except msgspec.DecodeError as exc:
        raise LabelError(f"label is not valid JSON: {exc}") from None
    return _parse_object(obj)


def _parse_object(label: Any) -> Problem:
    if not isinstance(label, dict):
        raise LabelError(f"label must be JSON text or an object, got {type(label).__name__}")
    try:
        if "schema" in label and "record" in label:
            return records.decode_json(_json.encode(label), Problem)
        return msgspec.convert(label, Problem)
    except (RecordError, msgspec.ValidationError) as exc:
        raise LabelError(f"label is not a valid problem record: {exc}") from None
