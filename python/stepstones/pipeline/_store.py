"""The run directory: append-only files that survive ``kill -9`` at any moment.

::

    <run dir>/
        manifest.json      what produced the run (config, mode, environments, models; no keys)
        chains.jsonl       one versioned Chain record per line (records.encode_json)
        rejections.jsonl   one line per rejected turn: {"chain_id", "seed_id", "env", "mode",
                           "turn", "rejection": <versioned Rejection record>}

A chain is stored with one ``write`` of a whole line, then ``fsync``; its rejections follow
the same way. On open, a torn last line (no newline: the process died mid-write) is cut off,
rejections of stored chains that did not make it to disk are written again, and the ids of
stored chains are loaded so that a resumed run skips them: nothing finished is lost, nothing
is stored twice.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import msgspec

from stepstones.errors import ConfigError, RecordError, StoreError
from stepstones.pipeline._config import Config
from stepstones.records import Chain, Env, Mode, Rejection, decode_json, encode_json

__all__ = [
    "CHAINS_FILE",
    "MANIFEST_FILE",
    "REJECTIONS_FILE",
    "Manifest",
    "RejectionEntry",
    "RunStore",
    "read_chains",
    "read_rejections",
]

CHAINS_FILE = "chains.jsonl"
REJECTIONS_FILE = "rejections.jsonl"
MANIFEST_FILE = "manifest.json"


class Manifest(msgspec.Struct, frozen=True, kw_only=True):
    """What produced a run directory. Endpoints are named by URL and model only, never by key."""

    config: Config
    modes: tuple[Mode, ...] = ()
    envs: tuple[Env, ...] = ()
    teacher: str = ""
    student: str = ""
    seeds: str = ""
    stepstones_version: str = ""
    created_at: str = ""
    opened: int = 1  # how many times the run was started (1 + resumes)


class RejectionEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One line of rejections.jsonl: a rejected turn of a stored chain."""

    chain_id: str
    seed_id: str
    env: Env
    mode: Mode
    turn: int
    rejection: msgspec.Raw  # a versioned Rejection record (records.encode_json)

    def decoded(self) -> Rejection:
        return decode_json(bytes(self.rejection), Rejection)


_entry_decoder = msgspec.json.Decoder(RejectionEntry)
_manifest_decoder = msgspec.json.Decoder(Manifest)
_encoder = msgspec.json.Encoder()


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """Complete lines of a file (1-based line numbers); a torn last line is left out."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StoreError(f"cannot read {str(path)!r}: {exc.strerror}") from exc
    end = data.rfind(b"\n")
    for number, line in enumerate(data[: end + 1].splitlines(), start=1):
        if line.strip():
            yield number, line


def read_chains(run_dir: str | os.PathLike[str]) -> Iterator[Chain]:
    """Every stored chain of a run directory, in the order they finished."""
    path = Path(run_dir) / CHAINS_FILE
    for number, line in _lines(path):
        try:
            yield decode_json(line, Chain)
        except RecordError as exc:
            raise StoreError(f"{str(path)!r} line {number}: {exc}") from exc


def read_rejections(run_dir: str | os.PathLike[str]) -> Iterator[RejectionEntry]:
    """Every stored rejection entry of a run directory."""
    path = Path(run_dir) / REJECTIONS_FILE
    for number, line in _lines(path):
        try:
            yield _entry_decoder.decode(line)
        except msgspec.DecodeError as exc:
            raise StoreError(f"{str(path)!r} line {number}: malformed rejection: {exc}") from exc


def rejection_entries(chain: Chain) -> list[RejectionEntry]:
    """The rejections.jsonl lines a chain contributes: one per turn with a rejection."""
    return [
        RejectionEntry(
            chain_id=chain.id,
            seed_id=chain.seed.id,
            env=chain.env,
            mode=chain.mode,
            turn=turn.index,
            rejection=msgspec.Raw(encode_json(turn.rejection)),
        )
        for turn in chain.turns
        if turn.rejection is not None
    ]


def _cut_torn_tail(path: Path) -> None:
    """Drop a last line without its newline: the process died while writing it."""
    try:
        with path.open("rb+") as f:
            size = f.seek(0, os.SEEK_END)
            if size == 0:
                return
            f.seek(size - 1)
            if f.read(1) == b"\n":
                return
            f.seek(0)
            data = f.read()
            f.truncate(data.rfind(b"\n") + 1)
            os.fsync(f.fileno())
    except FileNotFoundError:
        return


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
    os.fsync(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class RunStore:
    """An open run directory. Use :meth:`open`; appends are serialized and durable."""

    def __init__(self, path: Path, manifest: Manifest, chain_ids: set[str]) -> None:
        self.path = path
        self.manifest = manifest
        self._ids = chain_ids
        self._lock = anyio.Lock()
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        self._chains_fd = os.open(path / CHAINS_FILE, flags, 0o644)
        self._rejections_fd = os.open(path / REJECTIONS_FILE, flags, 0o644)
        _fsync_dir(path)

    @classmethod
    def open(cls, run_dir: str | os.PathLike[str], manifest: Manifest) -> RunStore:
        """Create or resume a run directory.

        Resuming with a different Config is refused (ConfigError): one run directory holds
        chains of one configuration, so its statistics mean something.
        """
        path = Path(run_dir)
        try:
            path.mkdir(parents=True, exist_ok=True)
            manifest = cls._merge_manifest(path, manifest)
            for name in (CHAINS_FILE, REJECTIONS_FILE):
                _cut_torn_tail(path / name)
            ids, missing = cls._scan(path)
            store = cls(path, manifest, ids)
            if missing:
                _write_all(store._rejections_fd, b"".join(_line(e) for e in missing))
        except OSError as exc:
            if isinstance(exc, StoreError):
                raise
            raise StoreError(f"cannot open run directory {str(path)!r}: {exc}") from exc
        return store

    @staticmethod
    def _merge_manifest(path: Path, manifest: Manifest) -> Manifest:
        file = path / MANIFEST_FILE
        if file.exists():
            try:
                old = _manifest_decoder.decode(file.read_bytes())
            except msgspec.DecodeError as exc:
                raise StoreError(f"{str(file)!r} is not a stepstones manifest: {exc}") from exc
            if old.config != manifest.config:
                raise ConfigError(
                    f"run directory {str(path)!r} was made with a different config; "
                    "resume it with the same config or write to a new --out directory"
                )
            manifest = msgspec.structs.replace(
                old,
                modes=tuple(dict.fromkeys(old.modes + manifest.modes)),
                envs=tuple(dict.fromkeys(old.envs + manifest.envs)),
                opened=old.opened + 1,
            )
        elif not manifest.created_at:
            manifest = msgspec.structs.replace(
                manifest, created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            )
        tmp = path / f".{MANIFEST_FILE}.tmp"
        tmp.write_bytes(msgspec.json.format(_encoder.encode(manifest)) + b"\n")
        with tmp.open("rb") as f:
            os.fsync(f.fileno())
        tmp.replace(file)
        return manifest

    @staticmethod
    def _scan(path: Path) -> tuple[set[str], list[RejectionEntry]]:
        """Stored chain ids, and the rejection entries of stored chains not yet on disk."""
        have = {(e.chain_id, e.turn) for e in read_rejections(path)}
        ids: set[str] = set()
        missing: list[RejectionEntry] = []
        for chain in read_chains(path):
            ids.add(chain.id)
            missing.extend(e for e in rejection_entries(chain) if (e.chain_id, e.turn) not in have)
        return ids, missing

    def __contains__(self, chain_id: object) -> bool:
        return chain_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def chain_ids(self) -> frozenset[str]:
        return frozenset(self._ids)

    async def append(self, chain: Chain) -> bool:
        """Store a finished chain and its rejections; False if its id was already stored."""
        async with self._lock:
            if chain.id in self._ids:
                return False
            chain_line = encode_json(chain) + b"\n"
            rejection_lines = b"".join(_line(e) for e in rejection_entries(chain))
            await anyio.to_thread.run_sync(self._write, chain_line, rejection_lines)
            self._ids.add(chain.id)
            return True

    def _write(self, chain_line: bytes, rejection_lines: bytes) -> None:
        try:
            _write_all(self._chains_fd, chain_line)
            if rejection_lines:
                _write_all(self._rejections_fd, rejection_lines)
        except OSError as exc:
            raise StoreError(f"cannot append to {str(self.path)!r}: {exc.strerror}") from exc

    def close(self) -> None:
        for fd in (self._chains_fd, self._rejections_fd):
            if fd >= 0:
                os.close(fd)
        self._chains_fd = self._rejections_fd = -1

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _line(entry: RejectionEntry) -> bytes:
    return _encoder.encode(entry) + b"\n"
