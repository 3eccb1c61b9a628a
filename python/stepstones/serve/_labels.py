"""Reading a trainer label back into the Problem it was exported from.

Exports write the label as the problem's versioned JSON text (``records.encode_json``). Trainers
may hand it back as that text, as the parsed dict (verl and ``datasets`` sometimes parse JSON
columns), or as a bare Problem dict without the version envelope; all three are accepted.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Any

import msgspec

from stepstones import records
from stepstones.errors import LabelError, RecordError
from stepstones.records import Problem

__all__ = ["LabelCache", "parse_label"]

_json = msgspec.json.Encoder()
#: Per-entry bookkeeping on top of the problem's own size and key (node, Problem object).
_ENTRY_OVERHEAD_BYTES = 512
#: Label texts up to this many characters are their own key (a dict look-up is cheaper than
#: a digest); longer ones are keyed by their digest.
_TEXT_KEY_CHARS = 4096


class LabelCache:
    """Problems parsed from label texts, bounded in entries *and* in bytes.

    A GRPO group sends the same label n times in a row, so a hit saves decoding it again. A
    label longer than 4 K characters is keyed by a 128-bit BLAKE2b digest of its text, never
    the text itself: a label padded with megabytes of JSON whitespace is still a valid label,
    and keeping such texts as keys would pin them in memory (shorter texts are their own key,
    which is cheaper to look up and counted in the entry's cost). What an entry costs is its
    key, its problem's encoded size and a fixed overhead; past ``max_bytes`` (or
    ``max_entries``) the least recently used entries go.
    Thread-safe (the in-process reward functions may be called from a trainer's threads).
    """

    def __init__(self, *, max_entries: int = 4096, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[str | bytes, tuple[Problem, int]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    @staticmethod
    def key(text: str) -> str | bytes:
        if len(text) <= _TEXT_KEY_CHARS:
            return text
        # surrogatepass: JSON may carry lone surrogates ("\ud800"); the key must still be exact.
        return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()

    def get(self, key: str | bytes) -> Problem | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
        return entry[0]

    def put(self, key: str | bytes, problem: Problem) -> None:
        cost = len(key) + len(_json.encode(problem)) + _ENTRY_OVERHEAD_BYTES
        if cost > self.max_bytes:
            return  # one problem bigger than the whole cache: not worth keeping
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.bytes -= old[1]
            while self._entries and (
                self.bytes + cost > self.max_bytes or len(self._entries) >= self.max_entries
            ):
                _, (_, freed) = self._entries.popitem(last=False)
                self.bytes -= freed
            self._entries[key] = (problem, cost)
            self.bytes += cost


_cache = LabelCache()


def parse_label(label: Any, *, cache: LabelCache | None = None) -> Problem:
    """The Problem in ``label`` (JSON text, envelope dict or bare problem dict).

    Raises :class:`~stepstones.errors.LabelError` when it is none of these, including JSON
    nested too deeply to decode (a hostile label must cost a 0.0, never the request).
    ``cache`` defaults to the process-wide one (text labels only).
    """
    if isinstance(label, bytes | bytearray):
        label = bytes(label).decode("utf-8", "replace")
    try:
        if isinstance(label, str):
            store = _cache if cache is None else cache
            key = store.key(label)
            cached = store.get(key)
            if cached is not None:
                return cached
            problem = _parse_text(label)
            store.put(key, problem)
            return problem
        return _parse_object(label)
    except RecursionError:
        raise LabelError("label is nested too deeply to be a problem record") from None


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
