"""Reading problems out of a run: the chain store, or plain JSONL of Problem records.

Accepted, line by line (blank lines skipped): versioned ``chain`` records (every valid turn's
problem), versioned ``problem`` records, and bare Problem objects. A directory means its
``chains.jsonl``. A problem id seen twice keeps its last occurrence (a resumed run rewrites).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import msgspec

from stepstones import records
from stepstones.errors import RecordError, StoreError
from stepstones.records import Chain, Problem

__all__ = ["iter_problems", "read_problems"]


class _Head(msgspec.Struct):
    type: str | None = None
    schema: int | None = None


_head = msgspec.json.Decoder(_Head)
_bare_problem = msgspec.json.Decoder(Problem)


def _resolve(path: Path) -> Path:
    if path.is_dir():
        path = path / "chains.jsonl"
    if not path.is_file():
        raise StoreError(
            f"no problems at {str(path)!r}: pass a run directory holding chains.jsonl or a "
            "JSONL file of chain/problem records"
        )
    return path


def _decode_line(line: bytes) -> list[Problem]:
    head = _head.decode(line)
    if head.schema is None:
        return [_bare_problem.decode(line)]
    if head.type == "chain":
        return list(records.decode_json(line, Chain).problems)
    if head.type == "problem":
        return [records.decode_json(line, Problem)]
    raise RecordError(f"expected chain or problem records, got {head.type!r}")


def iter_problems(path: str | Path) -> Iterator[Problem]:
    """Every problem in the file, in file order (duplicates included)."""
    p = _resolve(Path(path))
    try:
        with p.open("rb") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    yield from _decode_line(line)
                except (msgspec.DecodeError, RecordError) as exc:
                    raise RecordError(f"{p}:{lineno}: {exc}") from exc
    except OSError as exc:
        raise StoreError(f"cannot read {str(p)!r}: {exc}") from exc


def read_problems(path: str | Path) -> list[Problem]:
    """Distinct problems by id (last occurrence wins), in first-seen order."""
    out: dict[str, Problem] = {}
    for prob in iter_problems(path):
        out[prob.id] = prob
    return list(out.values())
