"""The live pool: stones the online teacher added while the trainer runs, with their lineage.

::

    <run dir>/online/pool.jsonl    one Stone per line, in the order they were added
    <run dir>/online/tries.jsonl   one Try per line: every request to the teacher, kept or not
    <run dir>/online/.lock         held (flock) by the one online teacher writing this run

Append-only and crash-safe like :mod:`stepstones.pipeline._store`: a line is written whole
with one ``write`` and fsynced; a torn last line (the teacher was killed mid-write) is cut
when the next teacher opens the pool and skipped by readers. A stone's line is written before
its try's, so a killed teacher never records a try whose stone is missing; at worst the one
try in flight is asked again.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import msgspec

from stepstones.errors import StoreError
from stepstones.records import Problem

__all__ = [
    "ONLINE_DIR",
    "POOL_FILE",
    "TRIES_FILE",
    "LivePool",
    "PoolReader",
    "Stone",
    "Try",
    "read_stones",
    "read_tries",
]

ONLINE_DIR = "online"
POOL_FILE = "pool.jsonl"
TRIES_FILE = "tries.jsonl"

Instruction = Literal["harder", "easier"]
TryOutcome = Literal["stone", "rejected", "llm", "unmeasured"]


class Stone(msgspec.Struct, frozen=True, kw_only=True):
    """A problem the online teacher derived from one the live policy had left the band on.

    problem: the new problem, validated in the sandbox and measured by the student
        (``problem.pass_rate`` over ``problem.n_attempts``); ``problem.parent_id`` is ``parent_id``.
    instruction: "harder" (the policy passed the parent more than ``harder_above``) or "easier"
        (it never passed it).
    root_id / chain: the lineage: the original problem the chain starts from and the ids from
        it down to the parent (``chain[-1] == parent_id``).
    parent_pass_rate / parent_rollouts: the parent's live windowed pass rate that triggered it.
    viable: the measured pass rate passes the RL keep-filter (schedules draw only viable stones).
    t: unix seconds when it was added.
    """

    id: str
    problem: Problem
    parent_id: str
    instruction: Instruction
    root_id: str
    chain: tuple[str, ...]
    parent_pass_rate: float
    parent_rollouts: int
    viable: bool
    t: float


class Try(msgspec.Struct, frozen=True, kw_only=True):
    """One request of the online teacher for a stone from ``parent_id``, and how it ended."""

    parent_id: str
    instruction: Instruction
    outcome: TryOutcome
    reason: str = ""
    rejection_kind: str = ""  # the Rejection's kind when outcome is "rejected"
    stone_id: str | None = None
    t: float = 0.0


_stone_decoder = msgspec.json.Decoder(Stone)
_try_decoder = msgspec.json.Decoder(Try)
_encoder = msgspec.json.Encoder()


def online_dir(run_dir: str | os.PathLike[str]) -> Path:
    return Path(run_dir) / ONLINE_DIR


def _complete_lines(data: bytes) -> tuple[list[bytes], int]:
    """The complete lines of ``data`` and the number of bytes they span."""
    end = data.rfind(b"\n")
    if end < 0:
        return [], 0
    return [line for line in data[: end + 1].split(b"\n") if line.strip()], end + 1


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""
    except OSError as exc:
        raise StoreError(f"cannot read {str(path)!r}: {exc.strerror}") from exc


def read_stones(run_dir: str | os.PathLike[str]) -> list[Stone]:
    """Every stone of a run's live pool, oldest first."""
    return PoolReader(run_dir).refresh()


def read_tries(run_dir: str | os.PathLike[str]) -> list[Try]:
    """Every recorded try of a run's online teacher, oldest first."""
    path = online_dir(run_dir) / TRIES_FILE
    lines, _ = _complete_lines(_read(path))
    out = []
    for number, line in enumerate(lines, 1):
        try:
            out.append(_try_decoder.decode(line))
        except msgspec.DecodeError as exc:
            raise StoreError(f"{str(path)!r} line {number}: malformed try: {exc}") from exc
    return out


class PoolReader:
    """Follows a run's pool file: :meth:`refresh` returns the stones added since the last call.

    Safe to use from any process while the online teacher writes (readers never modify the
    file; an incomplete last line is left for the next call).
    """

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.path = online_dir(run_dir) / POOL_FILE
        self._offset = 0
        self._lines = 0

    def refresh(self) -> list[Stone]:
        try:
            with self.path.open("rb") as f:
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StoreError(f"cannot read {str(self.path)!r}: {exc.strerror}") from exc
        lines, used = _complete_lines(data)
        out = []
        for line in lines:
            self._lines += 1
            try:
                out.append(_stone_decoder.decode(line))
            except msgspec.DecodeError as exc:
                raise StoreError(
                    f"{str(self.path)!r} line {self._lines}: malformed stone: {exc}"
                ) from exc
        self._offset += used
        return out


def _cut_torn_tail(path: Path) -> None:
    try:
        with path.open("rb+") as f:
            data = f.read()
            if data and not data.endswith(b"\n"):
                f.truncate(data.rfind(b"\n") + 1)
                os.fsync(f.fileno())
    except FileNotFoundError:
        return


def _append(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.fsync(fd)


class LivePool:
    """The writing side of a run's live pool; one per run directory at a time (a lock)."""

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.directory = online_dir(run_dir)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC)
        except OSError as exc:
            raise StoreError(
                f"cannot open the live pool in {str(self.directory)!r}: {exc}"
            ) from exc
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._lock_fd)
            raise StoreError(
                f"another online teacher is writing {str(self.directory)!r}: stop it first "
                "(one online teacher per run directory)"
            ) from None
        try:
            for name in (POOL_FILE, TRIES_FILE):
                _cut_torn_tail(self.directory / name)
            self.stones: dict[str, Stone] = {s.id: s for s in read_stones(run_dir)}
            self.tries: list[Try] = read_tries(run_dir)
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
            self._pool_fd = os.open(self.directory / POOL_FILE, flags, 0o644)
            self._tries_fd = os.open(self.directory / TRIES_FILE, flags, 0o644)
        except BaseException:
            os.close(self._lock_fd)
            raise

    def __iter__(self) -> Iterator[Stone]:
        return iter(self.stones.values())

    def __len__(self) -> int:
        return len(self.stones)

    def add(self, stone: Stone | None, attempt: Try) -> None:
        """Record a try, and its stone first when it made one (durable on return)."""
        try:
            if stone is not None and stone.id not in self.stones:
                _append(self._pool_fd, _encoder.encode(stone) + b"\n")
                self.stones[stone.id] = stone
            _append(self._tries_fd, _encoder.encode(attempt) + b"\n")
        except OSError as exc:
            raise StoreError(f"cannot append to {str(self.directory)!r}: {exc.strerror}") from exc
        self.tries.append(attempt)

    def close(self) -> None:
        for fd in (self._pool_fd, self._tries_fd, self._lock_fd):
            if fd >= 0:
                os.close(fd)
        self._pool_fd = self._tries_fd = self._lock_fd = -1

    def __enter__(self) -> LivePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
