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

import logging
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import msgspec

from stepstones import records
from stepstones.errors import ConfigError, StoreError
from stepstones.records import Problem
from stepstones.serve._ledger_view import (
    BANDS,
    LEDGER_DIR,
    Band,
    LedgerView,
    LiveStats,
    ProblemLine,
    ResultsLine,
    band_of,
    ledger_dir,
)

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

#: Outcomes that are the machinery's failures, not the policy's (see serve._rewarder.OUTCOMES).
_NOT_THE_POLICY = frozenset({"bad_label", "grade_timeout", "grader_error", "sandbox_error"})
_CUT = " ... [truncated]"
_encoder = msgspec.json.Encoder()


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
            introduced: set[str] = set()
            try:
                data = b"".join(self._lines(batch, introduced))
                view = memoryview(data)
                while view:
                    view = view[os.write(self._fd, view) :]
                os.fsync(self._fd)
                self._known |= introduced  # only once their record is on disk
                self.written += len(batch)
            except OSError as exc:  # a full or failing disk: these records are lost, counted
                with self._count_lock:
                    self.dropped += sum(len(item[1]) for item in batch)
                log.warning("ledger: cannot write %s: %s", self.path, exc)
            finally:  # the queue's room comes back whatever happened to the write
                with self._count_lock:
                    self._queued -= sum(len(item[1]) for item in batch)

    def _lines(
        self,
        batch: list[tuple[Problem, list[str], list[Any], int | None, float]],
        introduced: set[str],
    ) -> Iterable[bytes]:
        """The lines of ``batch``; the ids of problems whose record line it writes go into
        ``introduced``."""
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
            if problem_id not in self._known and problem_id not in introduced:
                introduced.add(problem_id)
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
