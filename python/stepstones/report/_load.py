"""A run directory as the report sees it: its manifest and every chain stored so far.

The chains are read with the store's own reader (:func:`stepstones.pipeline.read_chains`),
which leaves out a torn last line, so a run that is still being written (or was killed
mid-write) reads as the chains finished so far. A run grown on Ray is written by its driver
through the same :class:`~stepstones.pipeline.RunStore`, so it reads the same way.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

from stepstones.errors import StoreError
from stepstones.pipeline import Config, Manifest, read_chains
from stepstones.pipeline._store import CHAINS_FILE, MANIFEST_FILE
from stepstones.records import Chain

__all__ = ["Run", "load_run"]

_manifest = msgspec.json.Decoder(Manifest)


class Run(msgspec.Struct, frozen=True, kw_only=True):
    """What a report is made from.

    manifest: None when the directory has no manifest.json (chains copied by hand); the
        paper's default Config then stands in for the keep-filter and bands.
    torn_tail: the chain file ends in a partial line (a run being written, or killed while
        writing): that line was left out.
    """

    path: Path
    manifest: Manifest | None
    chains: tuple[Chain, ...]
    torn_tail: bool

    @property
    def config(self) -> Config:
        return self.manifest.config if self.manifest is not None else Config()


def _read_manifest(path: Path) -> Manifest | None:
    file = path / MANIFEST_FILE
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(f"cannot read {str(file)!r}: {exc.strerror}") from exc
    try:
        return _manifest.decode(data)
    except msgspec.DecodeError as exc:
        raise StoreError(f"{str(file)!r} is not a stepstones manifest: {exc}") from exc


def _ends_torn(file: Path) -> bool:
    try:
        with file.open("rb") as f:
            size = f.seek(0, os.SEEK_END)
            if size == 0:
                return False
            f.seek(size - 1)
            return f.read(1) != b"\n"
    except OSError as exc:
        raise StoreError(f"cannot read {str(file)!r}: {exc.strerror}") from exc


def load_run(run_dir: str | os.PathLike[str]) -> Run:
    """Read a run directory (finished, in progress, local or Ray-grown).

    Raises StoreError when the directory holds no chain file or a line in it (other than a
    torn last one) is not a chain record.
    """
    path = Path(run_dir)
    if not (path / CHAINS_FILE).is_file():
        raise StoreError(
            f"{str(path)!r} has no {CHAINS_FILE}: pass a run directory written by "
            "stepstones generate"
        )
    manifest = _read_manifest(path)
    torn = _ends_torn(path / CHAINS_FILE)
    return Run(path=path, manifest=manifest, chains=tuple(read_chains(path)), torn_tail=torn)
