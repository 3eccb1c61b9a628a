"""Seeds: windows of 25–50 consecutive lines of real code, reproducible from a seed number.

A :class:`SeedSampler` reads documents from a *source* and cuts a window of ``min_lines`` to
``max_lines`` lines out of one of them. Windows that are mostly blank lines, comments,
docstrings or licence text are skipped. The same source and seed number always give the same
:class:`~stepstones.records.Seed`.

A document shorter than the window (a JSONL row holding one short function, a small file) is a
seed as a whole, as long as it is not mostly boilerplate: the paper also grows problems from
short solutions to real coding problems. The standard library is the exception: its short files
are package stubs, so there only full windows are cut (``whole_short`` overrides either way).

With ``unit="function"`` the seed is instead one whole top-level Python function (decorators
included) of ``min_lines`` to ``max_lines`` lines: a complete piece of logic that a small
teacher model can turn into a problem, where a window cut mid-class mostly gets copied.

Sources:

- a directory: every file under it whose name matches ``pattern`` (default ``*.py``);
- ``.jsonl`` / ``.jsonl.gz`` files: one JSON object per line, code in ``text_column``
  (default ``content``, as in StarCoder-style dumps);
- ``.parquet`` files with a ``text_column`` (needs pyarrow: ``pip install 'stepstones[parquet]'``);
- nothing (``None``): the standard library sources of the running Python, so generation works
  on a fresh machine with no data.

A missing or empty source raises :class:`~stepstones.errors.SeedError` saying what to do.
"""

from __future__ import annotations

import ast
import gzip
import random
import re
import sysconfig
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

import msgspec

from stepstones.errors import ConfigError, SeedError
from stepstones.records import Seed, content_hash

__all__ = ["MIN_WHOLE_LINES", "SeedSampler", "Unit", "is_boilerplate", "stdlib_root"]

#: What one seed is: a window of consecutive lines, or one whole top-level Python function.
Unit = Literal["window", "function"]

_COMMENT = re.compile(r"^\s*(#|//|/\*|\*|--|;|%|<!--|\"\"\"|''')")
_LICENCE = re.compile(
    r"licen[cs]e|copyright|\(c\)|spdx|all rights reserved|warranty|permission is hereby",
    re.IGNORECASE,
)
_EXCLUDED_DIRS = frozenset(
    {"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__", "lib2to3"}
)


def stdlib_root() -> Path:
    """The directory holding the running Python's standard library sources."""
    return Path(sysconfig.get_paths()["stdlib"])


def _docstring_lines(lines: Sequence[str]) -> set[int]:
    """Indices of lines inside triple-quoted strings (a line-level approximation)."""
    inside: str | None = None
    out: set[int] = set()
    for i, line in enumerate(lines):
        stripped = line.strip()
        if inside is not None:
            out.add(i)
            if inside in stripped:
                inside = None
            continue
        for quote in ('"""', "'''"):
            if stripped.lstrip("rbuRBU").startswith(quote):
                out.add(i)
                if stripped.count(quote) == 1:
                    inside = quote
                break
    return out


def is_boilerplate(lines: Sequence[str], max_fraction: float = 0.5) -> bool:
    """True when more than ``max_fraction`` of ``lines`` are blank, comments, docstrings or
    licence text, or when any licence wording appears in a comment (headers are never seeds)."""
    if not lines:
        return True
    doc = _docstring_lines(lines)
    noise = 0
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or i in doc or _COMMENT.match(line):
            noise += 1
            if stripped and _LICENCE.search(stripped):
                return True
    return noise > max_fraction * len(lines)


#: Fewest lines of code (not blank, not comments) a short document needs to be a seed whole.
MIN_WHOLE_LINES = 3


def _code_lines(lines: Sequence[str]) -> int:
    return sum(1 for line in lines if line.strip() and not _COMMENT.match(line))


_BRANCHES: tuple[type[ast.AST], ...] = (
    *(ast.If, ast.For, ast.While, ast.IfExp, ast.Try, ast.Match),
    *(ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp),
)


def _computes(func: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Whether a function has logic to build on: it returns a value and branches or loops.
    Skips registration stubs (``return codecs.CodecInfo(...)``) and GUI/side-effect scripts."""
    body = list(ast.walk(func))
    returns = any(isinstance(n, ast.Return) and n.value is not None for n in body)
    return returns and any(isinstance(n, _BRANCHES) for n in body)


@dataclass(frozen=True, slots=True)
class _Doc:
    """One document: a file read when sampled, or the text of one JSONL/Parquet row."""

    source: str
    path: Path | None = None
    text: str = ""

    def load(self) -> str:
        return self.text if self.path is None else _read_text(self.path)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise SeedError(f"cannot read seed file {path}: {exc.strerror or exc}") from exc


def _open(path: Path) -> IO[bytes]:
    if path.name.endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def _jsonl_docs(path: Path, column: str) -> list[_Doc]:
    decoder = msgspec.json.Decoder(dict[str, Any])
    docs: list[_Doc] = []
    try:
        with _open(path) as fh:
            for number, raw in enumerate(fh, 1):
                if not raw.strip():
                    continue
                try:
                    row = decoder.decode(raw)
                except msgspec.DecodeError as exc:
                    raise SeedError(f"{path}:{number} is not a JSON object: {exc}") from exc
                text = row.get(column)
                if isinstance(text, str) and text.strip():
                    docs.append(_Doc(f"{path}:{number}", text=text))
    except OSError as exc:
        raise SeedError(f"cannot read seed file {path}: {exc}") from exc
    return docs


def _parquet_docs(path: Path, column: str) -> list[_Doc]:
    try:
        import pyarrow.parquet as pq  # type: ignore[import-untyped,import-not-found,unused-ignore]  # noqa: PLC0415
    except ImportError as exc:
        raise SeedError(
            f"reading {path} needs pyarrow: install it with pip install 'stepstones[parquet]'"
        ) from exc
    try:
        table = pq.read_table(path, columns=[column])
    except (OSError, KeyError, ValueError) as exc:
        raise SeedError(f"cannot read column {column!r} of {path}: {exc}") from exc
    docs: list[_Doc] = []
    for number, text in enumerate(table.column(column).to_pylist()):
        if isinstance(text, str) and text.strip():
            docs.append(_Doc(f"{path}#{number}", text=text))
    return docs


def _walk(root: Path, pattern: str, skip_tests: bool) -> Iterator[Path]:
    for path in sorted(root.rglob(pattern)):
        rel = path.relative_to(root).parts[:-1]
        if skip_tests and any(part in _EXCLUDED_DIRS for part in rel):
            continue
        if path.is_file():
            yield path


class SeedSampler:
    """Reproducible windows of real code from a source (see the module docstring).

    source: a directory, a ``.jsonl``/``.jsonl.gz``/``.parquet`` file, a list of those, or None
        for the running Python's standard library.
    min_lines, max_lines: window length in lines, inclusive (default 25–50).
    pattern: file-name glob for directories.
    text_column: the column holding code in JSONL/Parquet rows.
    max_noise_fraction: windows with more blank/comment/docstring lines than this are skipped.
    unit: ``"window"`` (any ``min_lines``-``max_lines`` lines) or ``"function"`` (one whole
        top-level function of that many lines, from documents that parse as Python).
    whole_short: whether a document shorter than ``min_lines`` (with at least
        :data:`MIN_WHOLE_LINES` lines of code) is a window as a whole; default: yes for a given
        source, no for the standard library. Function seeds are always whole functions.
    """

    def __init__(
        self,
        source: str | Path | Sequence[str | Path] | None = None,
        *,
        min_lines: int = 25,
        max_lines: int = 50,
        pattern: str = "*.py",
        text_column: str = "content",
        max_noise_fraction: float = 0.5,
        unit: Unit = "window",
        whole_short: bool | None = None,
    ) -> None:
        if not 1 <= min_lines <= max_lines:
            raise ConfigError(
                f"need 1 ≤ min_lines ≤ max_lines, got min_lines={min_lines}, max_lines={max_lines}"
            )
        if not 0.0 <= max_noise_fraction <= 1.0:
            raise ConfigError(f"max_noise_fraction must be in [0, 1], got {max_noise_fraction}")
        if unit not in ("window", "function"):
            raise ConfigError(f"unit must be 'window' or 'function', got {unit!r}")
        self.unit = unit
        self.min_lines = min_lines
        self.max_lines = max_lines
        self.max_noise_fraction = max_noise_fraction
        self.whole_short = source is not None if whole_short is None else whole_short
        self._docs = self._collect(source, pattern, text_column)

    def _collect(
        self, source: str | Path | Sequence[str | Path] | None, pattern: str, column: str
    ) -> list[_Doc]:
        if source is None:
            root = stdlib_root()
            docs = [_Doc(str(p), path=p) for p in _walk(root, pattern, True)]
            if not docs:
                raise SeedError(
                    f"no Python sources found in the standard library at {root}; "
                    "pass a directory or a JSONL/Parquet file as the seed source"
                )
            return docs
        sources = [source] if isinstance(source, str | Path) else list(source)
        docs = []
        for item in sources:
            path = Path(item)
            if path.is_dir():
                docs += [_Doc(str(p), path=p) for p in _walk(path, pattern, False)]
            elif not path.exists():
                raise SeedError(
                    f"seed source {path} does not exist; pass an existing directory or file"
                )
            elif path.name.endswith((".jsonl", ".jsonl.gz", ".ndjson")):
                docs += _jsonl_docs(path, column)
            elif path.suffix == ".parquet":
                docs += _parquet_docs(path, column)
            else:
                docs.append(_Doc(str(path), path=path))
        if not docs:
            raise SeedError(
                f"seed source {', '.join(map(str, sources))} holds no documents; point it at "
                f"files matching {pattern!r} or at JSONL/Parquet rows with a {column!r} column"
            )
        return docs

    def __len__(self) -> int:
        """How many documents the source holds."""
        return len(self._docs)

    def sample(self, seed: int, *, max_tries: int = 200) -> Seed:
        """The seed for ``seed``: the same source and seed number always give the same Seed."""
        rng = random.Random(seed)
        pick = self._function if self.unit == "function" else self._window
        for _ in range(max_tries):
            doc = self._docs[rng.randrange(len(self._docs))]
            lines = doc.load().replace("\r\n", "\n").replace("\r", "\n").split("\n")
            while lines and not lines[-1].strip():
                lines.pop()
            span = pick(lines, rng)
            if span is None:
                continue
            start, size = span
            text = "\n".join(lines[start : start + size]) + "\n"
            return Seed(
                id=content_hash(doc.source, str(start + 1), text),
                text=text,
                source=doc.source,
                start_line=start + 1,
                end_line=start + size,
            )
        what = "whole top-level function" if self.unit == "function" else "window"
        raise SeedError(
            f"found no {what} of {self.min_lines}-{self.max_lines} lines of code (not mostly "
            f"comments or blank) in {max_tries} tries for seed {seed}; use a source with longer "
            "code files or lower min_lines"
            + ("" if self.unit == "function" or self.whole_short else " (or whole_short=True)")
        )

    def _window(self, lines: list[str], rng: random.Random) -> tuple[int, int] | None:
        """(start, size) of a random window of ``lines`` that is not boilerplate, or None; a
        document shorter than the window is one window as a whole (see ``whole_short``)."""
        if len(lines) < self.min_lines:
            if not self.whole_short or _code_lines(lines) < MIN_WHOLE_LINES:
                return None
            if is_boilerplate(lines, self.max_noise_fraction):
                return None
            start = next(i for i, line in enumerate(lines) if line.strip())
            return start, len(lines) - start
        size = rng.randint(self.min_lines, min(self.max_lines, len(lines)))
        start = rng.randrange(len(lines) - size + 1)
        if is_boilerplate(lines[start : start + size], self.max_noise_fraction):
            return None
        return start, size

    def _function(self, lines: list[str], rng: random.Random) -> tuple[int, int] | None:
        """(start, size) of a random top-level function of the right length, or None."""
        if len(lines) < self.min_lines:
            return None
        try:
            tree = ast.parse("\n".join(lines))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return None
        spans = []
        for node in tree.body:
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            first = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
            size = (node.end_lineno or node.lineno) - first
            if (
                self.min_lines <= size <= self.max_lines
                and _computes(node)
                and not is_boilerplate(lines[first : first + size], self.max_noise_fraction)
            ):
                spans.append((first, size))
        return rng.choice(spans) if spans else None

    def samples(self, n: int, *, seed: int = 0) -> list[Seed]:
        """``n`` seeds, for seed numbers ``seed``, ``seed + 1``, …"""
        return [self.sample(seed + i) for i in range(n)]
