"""The live ledger: what the policy being trained does on each problem, as the reward server
sees it (docs/design.md §9).

For every problem (keyed by the id its label carries) the ledger keeps the policy's last
``window`` results — a windowed pass rate —, when they came (wall time, and the training step
when the trainer sends one) and a few representative passing and failing answers, capped in
bytes. The online teacher (:mod:`stepstones.online`) reads it to find problems that left the
target band, and uses the answers as the student summary it shows the teacher.

On disk, beside a run directory::

    <run dir>/ledger/<host>-<pid>-<start ns>.jsonl    one file per server process

Each process appends only to its own file, so replicas on a Ray cluster (a shared directory)
and restarted servers never interleave bytes; a reader merges every file of the directory,
ordering results by time, so the window is the same whatever order the files are read in.
Lines are whole JSON objects; a torn last line (the process died mid-write) is ignored, like
:mod:`stepstones.pipeline._store`. Two kinds of line::

    {"kind": "problem", "id": ..., "problem": <versioned Problem record>}   once per file
    {"kind": "results", "id": ..., "t": ..., "step": ..., "r": "10-", "passing": [...],
     "failing": [[answer, reason], ...]}

``r`` holds one character per graded rollout: ``1`` passed, ``0`` failed with an answer,
``-`` no answer in the required format. Machinery failures (a bad label, a grader error, a
sandbox failure, a grading deadline) say nothing about the policy and are not recorded.

Recording never slows or fails reward serving: :meth:`Ledger.record` only appends to a
bounded in-memory queue (full: the items are dropped and counted); a writer thread coalesces
the queue, extracts the answers, writes, fsyncs and refreshes the in-memory view.
"""

from __future__ import annotations

import bisect
import logging
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
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
    "Ledger",
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

#: Outcomes that are the machinery's failures, not the policy's (see serve._rewarder.OUTCOMES).
_NOT_THE_POLICY = frozenset({"bad_label", "grade_timeout", "grader_error", "sandbox_error"})
_CUT = " ... [truncated]"


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

    def refresh(self) -> int:
        """Read every line appended since the last call; returns how many were applied."""
        try:
            names = sorted(p.name for p in self.directory.glob("*.jsonl"))
        except OSError as exc:
            raise StoreError(f"cannot list the ledger {str(self.directory)!r}: {exc}") from exc
        applied = 0
        for name in names:
            applied += self._follow(name)
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
        counts = self.counts()
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


class Ledger:
    """The writing side, owned by one reward-server process: a bounded queue, a writer thread
    that appends to this process's own file, and the :class:`LedgerView` of the directory.

    max_queue: rollouts waiting to be written; beyond it new ones are dropped and counted
        (``dropped``), so a stalled disk never grows memory or slows rewards.
    flush_interval_s: how often the writer thread writes, fsyncs and refreshes the view.
    example_bytes: longest answer or reason kept as an example (UTF-8 bytes, cut with a marker).
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        window: int = 32,
        examples: int = 2,
        max_queue: int = 100_000,
        flush_interval_s: float = 0.2,
        example_bytes: int = 2048,
    ) -> None:
        if max_queue < 1:
            raise ConfigError(f"ledger max_queue must be >= 1 rollouts, got {max_queue}")
        if not flush_interval_s > 0:
            raise ConfigError(f"ledger flush_interval_s must be > 0, got {flush_interval_s}")
        if example_bytes < 64:
            raise ConfigError(f"ledger example_bytes must be >= 64, got {example_bytes}")
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            name = f"{socket.gethostname()}-{os.getpid()}-{time.time_ns()}.jsonl"
            self.path = self.directory / name
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
            self._fd = os.open(self.path, flags, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot open the ledger in {str(self.directory)!r}: {exc}") from exc
        self.view = LedgerView(self.directory, window=window, examples=examples)
        self.view.refresh()  # what earlier processes and other replicas recorded
        self.dropped = 0
        self.written = 0
        self._max_queue = max_queue
        self._flush_interval_s = flush_interval_s
        self._example_bytes = example_bytes
        self._queue: deque[tuple[Problem, list[str], list[Any], int | None, float]] = deque()
        self._queued = 0
        self._count_lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._known: set[str] = set()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stepstones-ledger", daemon=True)
        self._thread.start()

    def record(
        self,
        groups: Iterable[tuple[Problem, Sequence[int]]],
        responses: Sequence[str],
        verdicts: Sequence[Any],
        step: int | None = None,
    ) -> None:
        """Queue the graded items of one reward request; O(items), never blocks or raises.

        groups: (problem, indices into responses/verdicts); verdicts have ``reward``,
        ``outcome`` and ``reason`` (serve._rewarder.Verdict).
        """
        now = time.time()
        for problem, idx in groups:
            kept = [i for i in idx if verdicts[i].outcome not in _NOT_THE_POLICY]
            if not kept:
                continue
            with self._count_lock:
                if self._queued + len(kept) > self._max_queue:
                    self.dropped += len(kept)
                    continue
                self._queued += len(kept)
            self._queue.append(
                (problem, [responses[i] for i in kept], [verdicts[i] for i in kept], step, now)
            )

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._flush_interval_s)
            self._wake.clear()
            try:
                self._flush()
                self.view.refresh()
            except Exception:  # the ledger must never take the server down
                log.exception("ledger writer failed; retrying at the next flush")
        self._flush()

    def flush(self) -> None:
        """Write what is queued now and refresh the view (tests and shutdown)."""
        self._flush()
        self.view.refresh()

    def _flush(self) -> None:
        with self._flush_lock:
            batch = []
            while self._queue:
                batch.append(self._queue.popleft())
            if not batch:
                return
            data = b"".join(self._lines(batch))
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
            os.fsync(self._fd)
            with self._count_lock:
                self._queued -= sum(len(item[1]) for item in batch)
            self.written += len(batch)

    def _lines(
        self, batch: list[tuple[Problem, list[str], list[Any], int | None, float]]
    ) -> Iterable[bytes]:
        from stepstones import envs  # noqa: PLC0415 - loaded by the server already

        merged: dict[tuple[str, int | None], list[Any]] = {}
        for problem, responses, verdicts, step, t in batch:
            slot = merged.setdefault((problem.id, step), [problem, t, [], [], []])
            slot[1] = max(slot[1], t)
            try:
                extract = envs.get(problem.env).extract
            except Exception:
                extract = None
            for response, verdict in zip(responses, verdicts, strict=True):
                answer = _safe_extract(extract, response)
                if verdict.outcome == "pass":
                    slot[2].append("1")
                    slot[3].append(answer or "")
                else:
                    slot[2].append("0" if answer is not None else "-")
                    slot[4].append((answer, verdict.reason))
        for (problem_id, step), (problem, t, chars, passing, failing) in merged.items():
            if problem_id not in self._known:
                self._known.add(problem_id)
                yield (
                    _encoder.encode(
                        ProblemLine(
                            id=problem_id, problem=msgspec.Raw(records.encode_json(problem))
                        )
                    )
                    + b"\n"
                )
            # Wrong answers teach the teacher more than missing ones: prefer those.
            failing.sort(key=lambda f: f[0] is None)
            line = ResultsLine(
                id=problem_id,
                t=t,
                r="".join(chars),
                step=step,
                passing=tuple(self._cap(a) for a in passing[:1]),
                failing=tuple(
                    (None if a is None else self._cap(a), self._cap(r)) for a, r in failing[:1]
                ),
            )
            yield _encoder.encode(line) + b"\n"

    def _cap(self, text: str) -> str:
        raw = text.encode("utf-8", "replace")
        if len(raw) <= self._example_bytes:
            return text
        keep = self._example_bytes - len(_CUT.encode())
        return raw[:keep].decode("utf-8", "ignore") + _CUT

    def close(self) -> None:
        """Write what is queued, stop the writer thread and close the file."""
        if self._fd < 0:
            return
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=30)
        self._flush()
        os.close(self._fd)
        self._fd = -1

    def metrics(self) -> str:
        return self.view.metrics(self.dropped)


def _safe_extract(extract: Any, response: str) -> str | None:
    if extract is None:
        return None
    try:
        answer = extract(response)
    except Exception:
        return None
    return answer if isinstance(answer, str) else None
