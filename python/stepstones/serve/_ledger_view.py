"""Reading the live ledger (see :mod:`stepstones.serve._ledger` for what it records and how it is
written): its line records, and :class:`LedgerView`, the merged windowed state of every ledger
file of a directory, which the reward server serves and the online teacher and live schedules
read."""

from __future__ import annotations

import bisect
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, unquote

import msgspec

from stepstones import records
from stepstones.errors import ConfigError, RecordError, StoreError
from stepstones.records import Problem

__all__ = [
    "BANDS",
    "LEDGER_DIR",
    "Band",
    "LedgerView",
    "LiveStats",
    "ProblemLine",
    "ResultsLine",
    "band_of",
    "ledger_dir",
]

log = logging.getLogger("stepstones.serve")

#: The ledger's folder inside a run directory.
LEDGER_DIR = "ledger"

Band = Literal["warming", "too_easy", "in_band", "too_hard"]
#: warming: fewer than ``window`` rollouts yet; too_easy: pass rate above ``harder_above``;
#: too_hard: at or below ``easier_at_or_below`` (0: never solved); in_band: in between.
BANDS: tuple[Band, ...] = ("warming", "too_easy", "in_band", "too_hard")


def ledger_dir(run_dir: str | os.PathLike[str]) -> Path:
    """The ledger folder of a run directory."""
    return Path(run_dir) / LEDGER_DIR


def band_of(
    n: int, pass_rate: float | None, window: int, harder_above: float, easier_at_or_below: float
) -> Band:
    """The band of a problem with ``n`` results in its window and this windowed pass rate."""
    if n < window or pass_rate is None:
        return "warming"
    if pass_rate > harder_above:
        return "too_easy"
    if pass_rate <= easier_at_or_below:
        return "too_hard"
    return "in_band"


class ProblemLine(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="problem"):
    """A problem's record, written once per ledger file before its first results."""

    id: str
    problem: msgspec.Raw  # records.encode_json(Problem)


class ResultsLine(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="results"):
    """Results of the policy on one problem that arrived together (often one GRPO group)."""

    id: str
    t: float  # unix seconds when the server graded them
    r: str  # one char per rollout: 1 passed, 0 failed with an answer, - no answer
    step: int | None = None  # the trainer's step, when its request carried one
    passing: tuple[str, ...] = ()
    failing: tuple[tuple[str | None, str], ...] = ()  # (answer or None, reason)


_Line = ProblemLine | ResultsLine
_line_decoder = msgspec.json.Decoder(_Line)
_encoder = msgspec.json.Encoder()


class LiveStats(msgspec.Struct, frozen=True, kw_only=True):
    """What the ledger knows of one problem now (the read API's and the online teacher's view).

    n: results in the window (at most ``window``); total: every result ever recorded.
    pass_rate: passed / n over the window, None before the first result.
    format_errors: results in the window without an answer.
    last_t / last_step: time and trainer step of the newest result.
    passing / failing: the newest representative answers (failing: answer or None, reason).
    """

    id: str
    env: str
    window: int
    n: int
    total: int
    n_passed: int
    pass_rate: float | None
    band: Band
    format_errors: int
    last_t: float
    last_step: int | None
    passing: tuple[str, ...]
    failing: tuple[tuple[str | None, str], ...]
    problem: Problem | None = None


@dataclass
class _Entry:
    problem: Problem | None = None
    env: str = "unknown"
    # (t, order, char) sorted; the newest ``window`` only. ``order`` breaks time ties.
    results: list[tuple[float, tuple[str, int, int], str]] = field(default_factory=list)
    total: int = 0
    last_t: float = 0.0
    last_step: int | None = None
    passing: list[tuple[float, str]] = field(default_factory=list)
    failing: list[tuple[float, str | None, str]] = field(default_factory=list)


class LedgerView:
    """The merged, windowed state of every ledger file in a directory; thread-safe.

    :meth:`refresh` reads what was appended since the last call (each file is followed from
    its last complete line), so calling it often is cheap. Results are kept ordered by time
    across files: the window holds the newest ``window`` results whatever the read order.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        window: int = 32,
        examples: int = 2,
        harder_above: float = 0.65,
        easier_at_or_below: float = 0.0,
    ) -> None:
        if window < 1:
            raise ConfigError(f"ledger window must be >= 1 rollouts, got {window}")
        if examples < 0:
            raise ConfigError(f"ledger examples must be >= 0, got {examples}")
        if not 0.0 <= easier_at_or_below < harder_above <= 1.0:
            raise ConfigError(
                "ledger bands need 0 <= easier_at_or_below < harder_above <= 1, got "
                f"{easier_at_or_below} and {harder_above}"
            )
        self.directory = Path(directory)
        self.window = window
        self.examples = examples
        self.harder_above = harder_above
        self.easier_at_or_below = easier_at_or_below
        self.bad_lines = 0
        self.rollouts = 0
        self._entries: dict[str, _Entry] = {}
        self._offsets: dict[str, int] = {}
        self._lock = threading.Lock()
        self._counts: dict[Band, int] | None = None  # as of the last refresh, for /metrics

    def refresh(self) -> int:
        """Read every line appended since the last call; returns how many were applied."""
        try:
            names = sorted(p.name for p in self.directory.glob("*.jsonl"))
        except OSError as exc:
            raise StoreError(f"cannot list the ledger {str(self.directory)!r}: {exc}") from exc
        applied = 0
        for name in names:
            applied += self._follow(name)
        if applied or self._counts is None:
            counts = self.counts()
            with self._lock:
                self._counts = counts
        return applied

    def _follow(self, name: str) -> int:
        offset = self._offsets.get(name, 0)
        try:
            with (self.directory / name).open("rb") as f:
                f.seek(offset)
                data = f.read()
        except FileNotFoundError:
            return 0
        except OSError as exc:
            raise StoreError(f"cannot read {str(self.directory / name)!r}: {exc}") from exc
        end = data.rfind(b"\n")
        if end < 0:
            return 0  # nothing complete yet (or a torn line of a dead writer)
        applied = 0
        with self._lock:
            position = offset
            for line in data[: end + 1].split(b"\n")[:-1]:
                here = position
                position += len(line) + 1
                if line.strip():
                    applied += self._apply(line, (name, here))
            self._offsets[name] = offset + end + 1
        return applied

    def _apply(self, line: bytes, where: tuple[str, int]) -> int:
        try:
            item = _line_decoder.decode(line)
            if isinstance(item, ProblemLine):
                entry = self._entries.setdefault(item.id, _Entry())
                if entry.problem is None:
                    entry.problem = records.decode_json(bytes(item.problem), Problem)
                    entry.env = entry.problem.env
                return 1
        except (msgspec.DecodeError, RecordError) as exc:
            self.bad_lines += 1
            log.warning("ledger %s offset %d: skipped a malformed line: %s", *where, exc)
            return 0
        self._results(item, where)
        return 1

    def _results(self, item: ResultsLine, where: tuple[str, int]) -> None:
        entry = self._entries.setdefault(item.id, _Entry())
        entry.total += len(item.r)
        self.rollouts += len(item.r)
        for i, ch in enumerate(item.r):
            bisect.insort(entry.results, (item.t, (where[0], where[1], i), ch))
        del entry.results[: max(0, len(entry.results) - self.window)]
        if item.t >= entry.last_t:
            entry.last_t = item.t
            entry.last_step = item.step if item.step is not None else entry.last_step
        if self.examples:
            for text in item.passing:
                bisect.insort(entry.passing, (item.t, text))
            for answer, reason in item.failing:
                bisect.insort(entry.failing, (item.t, answer, reason), key=lambda x: x[0])
            del entry.passing[: max(0, len(entry.passing) - self.examples)]
            del entry.failing[: max(0, len(entry.failing) - self.examples)]

    def stats(self, problem_id: str, *, with_problem: bool = True) -> LiveStats | None:
        """The current state of one problem; None when the ledger has never seen it."""
        with self._lock:
            entry = self._entries.get(problem_id)
            return None if entry is None else self._stats(problem_id, entry, with_problem)

    def all(self, *, with_problem: bool = False) -> list[LiveStats]:
        """Every problem's state, by id."""
        with self._lock:
            return [self._stats(k, e, with_problem) for k, e in sorted(self._entries.items())]

    def counts(self) -> dict[Band, int]:
        """How many problems are in each band now."""
        out: dict[Band, int] = dict.fromkeys(BANDS, 0)
        for s in self.all():
            out[s.band] += 1
        return out

    def _stats(self, problem_id: str, e: _Entry, with_problem: bool) -> LiveStats:
        chars = [c for _, _, c in e.results]
        n = len(chars)
        passed = chars.count("1")
        rate = passed / n if n else None
        return LiveStats(
            id=problem_id,
            env=e.env,
            window=self.window,
            n=n,
            total=e.total,
            n_passed=passed,
            pass_rate=rate,
            band=band_of(n, rate, self.window, self.harder_above, self.easier_at_or_below),
            format_errors=chars.count("-"),
            last_t=e.last_t,
            last_step=e.last_step,
            passing=tuple(text for _, text in reversed(e.passing)),
            failing=tuple((a, r) for _, a, r in reversed(e.failing)),
            problem=e.problem if with_problem else None,
        )

    def metrics(self, dropped: int = 0) -> str:
        """Prometheus lines: problems per band, rollouts seen, items dropped by the queue."""
        # As of the last refresh (the writer thread's): a scrape costs nothing per problem.
        counts = self._counts if self._counts is not None else self.counts()
        lines = [
            "# HELP stepstones_ledger_problems Problems by live band (windowed pass rate).",
            "# TYPE stepstones_ledger_problems gauge",
            *(f'stepstones_ledger_problems{{band="{b}"}} {n}' for b, n in counts.items()),
            "# HELP stepstones_ledger_rollouts_total Rollouts recorded in the ledger (all files).",
            "# TYPE stepstones_ledger_rollouts_total counter",
            f"stepstones_ledger_rollouts_total {self.rollouts}",
            "# HELP stepstones_ledger_dropped_total Rollouts not recorded: the queue was full.",
            "# TYPE stepstones_ledger_dropped_total counter",
            f"stepstones_ledger_dropped_total {dropped}",
        ]
        return "\n".join(lines) + "\n"

    def http(self, path: str, query_string: bytes) -> tuple[int, bytes]:
        """The read API: ``GET /ledger[?band=B]`` (every problem, without examples) and
        ``GET /ledger/{id}`` (one problem with its examples and record)."""
        if path in ("/ledger", "/ledger/"):
            query = parse_qs(query_string.decode("latin-1"))
            bands = query.get("band", [])
            bad = [b for b in bands if b not in BANDS]
            if bad:
                error = f"unknown band {bad[0]!r}: choose one of {', '.join(BANDS)}"
                return 400, _encoder.encode({"error": error})
            problems = [
                msgspec.structs.replace(s, passing=(), failing=())
                for s in self.all()
                if not bands or s.band in bands
            ]
            body: dict[str, Any] = {
                "window": self.window,
                "bands": self.counts(),
                "problems": problems,
            }
            return 200, _encoder.encode(body)
        problem_id = unquote(path[len("/ledger/") :])
        stats = self.stats(problem_id)
        if stats is None:
            return 404, _encoder.encode({"error": f"the ledger has no problem {problem_id!r}"})
        return 200, _encoder.encode(stats)
