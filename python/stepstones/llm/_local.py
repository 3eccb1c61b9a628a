"""The embedded default: llama.cpp's OpenAI-compatible server with small pinned models.

:func:`local_endpoint` fetches and verifies one model (see :mod:`._model`), starts
``python -m llama_cpp.server`` on a free loopback port, waits for it to answer with a deadline,
yields an :class:`Endpoint` for it, and always stops the server on exit, also on error or
cancellation. :func:`local_pair` is the embedded teacher-student pair that ``stepstones
generate`` uses with no endpoint configured: Qwen2.5-Coder-1.5B-Instruct as teacher and as
student, one server for both (``STEPSTONES_LOCAL_TEACHER`` / ``STEPSTONES_LOCAL_STUDENT`` =
``0.5b`` or ``1.5b`` choose others; two models run two servers). The 1.5B is the student because
the 0.5B copies the student prompt's example answer or runs out of tokens before answering, so
its pass rates were 0 on 7 of 8 problems (none viable) where the 1.5B's fell in between; one
server also spares two llama.cpp processes fighting over 2 cores. Needs the ``local`` extra
(``pip install 'stepstones[local]'``).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import NamedTuple

import anyio
import anyio.abc
import httpx

from stepstones.errors import ConfigError, LLMConnectionError
from stepstones.llm._endpoint import Endpoint
from stepstones.llm._model import QWEN_CODER_05B, ModelSpec, fetch_model, model_spec

__all__ = [
    "DEFAULT_STUDENT",
    "DEFAULT_TEACHER",
    "LOCAL_MODEL_ALIAS",
    "LocalPair",
    "default_threads",
    "local_available",
    "local_endpoint",
    "local_models",
    "local_pair",
]

logger = logging.getLogger("stepstones.llm")

#: The model name :func:`local_endpoint` answers to by default (the 0.5B's alias).
LOCAL_MODEL_ALIAS = QWEN_CODER_05B.name
#: The embedded teacher and student (names of :data:`stepstones.llm._model.LOCAL_MODELS`).
DEFAULT_TEACHER = "1.5b"
DEFAULT_STUDENT = "1.5b"
_STOP_GRACE_S = 10.0
_LOG_TAIL_CHARS = 2000


def local_available() -> bool:
    """True when the ``local`` extra (llama-cpp-python with its server) is installed."""
    needed = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "pydantic_settings")
    return all(importlib.util.find_spec(name) is not None for name in needed)


def default_threads(servers: int = 1) -> int:
    """Threads for each of ``servers`` llama.cpp servers: ``$STEPSTONES_LOCAL_THREADS``, else
    the cores shared out between them (at least 1).

    One server gets every core: its requests run one at a time, the sandbox's grading jobs take
    milliseconds between them, and on 2 cores the 1.5B decodes about 1.7x faster with 2 threads
    than with 1 (18 against 10.5 tokens/s, prompts 59 against 31). Two servers get half each,
    since two llama.cpp processes whose thread pools share a core stall each other.
    """
    text = os.environ.get("STEPSTONES_LOCAL_THREADS")
    if text:
        try:
            threads = int(text)
        except ValueError as exc:
            raise ConfigError(f"STEPSTONES_LOCAL_THREADS must be an integer, got {text!r}") from exc
        if threads < 1:
            raise ConfigError(f"STEPSTONES_LOCAL_THREADS must be >= 1, got {threads}")
        return threads
    return max(1, (os.cpu_count() or 1) // max(1, servers))


#: Runs a module as ``python -m`` would, after asking the kernel to SIGTERM it when the process
#: that started it dies (``PR_SET_PDEATHSIG``): a caller killed with SIGKILL runs no cleanup,
#: and a model server left behind would hold gigabytes and both cores. The parent's pid is
#: checked after the prctl, since the parent may already have died before it.
_GUARD = (
    "import ctypes, os, runpy, signal, sys\n"
    "ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    sys.exit(0)\n"
    "sys.argv = [sys.argv[2], *sys.argv[3:]]\n"
    "runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)\n"
)


def orphan_guarded(module: str) -> list[str]:
    """The command prefix that runs ``module`` like ``python -m module``, ended by the kernel
    when this process dies (Linux); append the module's own arguments."""
    return [sys.executable, "-c", _GUARD, str(os.getpid()), module]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tail(log: Path) -> str:
    try:
        return log.read_text(encoding="utf-8", errors="replace")[-_LOG_TAIL_CHARS:]
    except OSError:
        return ""


async def _wait_ready(
    base_url: str, process: anyio.abc.Process, log: Path, ready_timeout_s: float
) -> None:
    """Poll ``GET /v1/models`` until it answers 200, the server exits, or the deadline."""
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0)) as http:
        with anyio.move_on_after(ready_timeout_s):
            while True:
                if process.returncode is not None:
                    raise LLMConnectionError(
                        f"the embedded llama.cpp server exited with code {process.returncode} "
                        f"before it was ready; its log ends:\n{_tail(log)}"
                    )
                try:
                    response = await http.get(f"{base_url}/models")
                    if response.status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await anyio.sleep(0.25)
    raise LLMConnectionError(
        f"the embedded llama.cpp server at {base_url} was not ready within "
        f"ready_timeout_s={ready_timeout_s}; its log ends:\n{_tail(log)}"
    )


async def _stop(process: anyio.abc.Process) -> None:
    with anyio.CancelScope(shield=True):
        if process.returncode is None:
            process.terminate()
            with anyio.move_on_after(_STOP_GRACE_S):
                await process.wait()
        if process.returncode is None:
            process.kill()
            await process.wait()


@asynccontextmanager
async def _server(
    path: Path,
    alias: str,
    *,
    threads: int,
    ctx_tokens: int,
    seed: int,
    ready_timeout_s: float,
) -> AsyncIterator[str]:
    """Serve the GGUF at ``path`` as ``alias`` on loopback; yield its API root; stop it on exit."""
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    cmd = [
        *orphan_guarded("llama_cpp.server"),
        "--model", str(path),
        "--model_alias", alias,
        "--host", "127.0.0.1",
        "--port", str(port),
        "--n_threads", str(threads),
        "--n_threads_batch", str(threads),
        "--n_ctx", str(ctx_tokens),
        "--seed", str(seed),
        "--interrupt_requests", "False",
        "--verbose", "False",
    ]  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="stepstones-llama-") as tmp:
        log = Path(tmp) / "server.log"
        with log.open("wb") as log_file:
            process = await anyio.open_process(
                cmd, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT
            )
        try:
            await _wait_ready(base_url, process, log, ready_timeout_s)
            logger.info(
                "using the embedded local model %s (llama.cpp, %d thread%s) at %s; configure "
                "STEPSTONES_BASE_URL and STEPSTONES_MODEL to use your own server",
                path.name,
                threads,
                "" if threads == 1 else "s",
                base_url,
            )
            yield base_url
        finally:
            await _stop(process)


def _need_local() -> None:
    if not local_available():
        raise ConfigError(
            "the embedded local model needs llama.cpp's server: pip install 'stepstones[local]' "
            "(or configure an endpoint with STEPSTONES_BASE_URL and STEPSTONES_MODEL)"
        )


@asynccontextmanager
async def local_endpoint(
    model: ModelSpec = QWEN_CODER_05B,
    *,
    model_path: Path | None = None,
    threads: int | None = None,
    ctx_tokens: int = 8192,
    seed: int = 0,
    ready_timeout_s: float = 300.0,
    request_timeout_s: float = 900.0,
    max_concurrency: int = 1,
) -> AsyncIterator[Endpoint]:
    """Start the embedded model server; yield an :class:`Endpoint` for it; stop it on exit.

    model: the pinned model to serve (default Qwen2.5-Coder-0.5B-Instruct), fetched and
        verified into the cache on first use; the endpoint's model name is its alias.
    model_path: serve this GGUF file instead of fetching ``model`` (still named ``model``'s
        alias).
    threads: llama.cpp threads (default :func:`default_threads`).
    ctx_tokens: context window (prompt plus completion) in tokens.
    seed: llama.cpp's sampling seed, fixed so runs are repeatable.
    ready_timeout_s: deadline for the server to load the model and answer.
    request_timeout_s: ``timeout_s`` of the yielded endpoint (a 0.5B model on one busy core
        writes about 15-35 tokens/s, so a 2048-token answer takes minutes).
    max_concurrency: requests in flight; llama.cpp's Python server runs one at a time, so more
        would only wait inside the server while their timeouts run.
    """
    _need_local()
    path = model_path
    if path is None:
        path = await anyio.to_thread.run_sync(functools.partial(fetch_model, model))
    async with _server(
        path,
        model.name,
        threads=default_threads() if threads is None else threads,
        ctx_tokens=ctx_tokens,
        seed=seed,
        ready_timeout_s=ready_timeout_s,
    ) as base_url:
        yield Endpoint(
            base_url=base_url,
            model=model.name,
            max_concurrency=max_concurrency,
            timeout_s=request_timeout_s,
        )


class LocalPair(NamedTuple):
    """The embedded teacher and student (the same Endpoint when one model plays both)."""

    teacher: Endpoint
    student: Endpoint


def local_models(env: Mapping[str, str] | None = None) -> tuple[ModelSpec, ModelSpec]:
    """The pinned (teacher, student) models: ``$STEPSTONES_LOCAL_TEACHER`` and
    ``$STEPSTONES_LOCAL_STUDENT`` (default ``1.5b`` both); ConfigError for an unknown name."""
    values = os.environ if env is None else env
    names = []
    for role, default in (("TEACHER", DEFAULT_TEACHER), ("STUDENT", DEFAULT_STUDENT)):
        name = values.get(f"STEPSTONES_LOCAL_{role}") or default
        try:
            names.append(model_spec(name))
        except ConfigError as exc:
            raise ConfigError(f"STEPSTONES_LOCAL_{role}: {exc}") from exc
    return names[0], names[1]


@asynccontextmanager
async def local_pair(
    teacher: ModelSpec | None = None,
    student: ModelSpec | None = None,
    *,
    threads: int | None = None,
    ready_timeout_s: float = 300.0,
    request_timeout_s: float = 900.0,
) -> AsyncIterator[LocalPair]:
    """Start the embedded teacher and student; yield their endpoints; stop both on exit.

    teacher / student: the pinned models (default :func:`local_models`). The same model for
        both roles runs one server; two models run two servers.
    threads: llama.cpp threads per server (default :func:`default_threads`: every core for one
        server; on 2 cores 1 each for two, so they never fight for a core).
    """
    _need_local()
    default_teacher, default_student = local_models()
    teacher = teacher or default_teacher
    student = student or default_student
    specs = [teacher] if teacher == student else [teacher, student]
    paths = [await anyio.to_thread.run_sync(functools.partial(fetch_model, s)) for s in specs]
    async with AsyncExitStack() as stack:
        endpoints = []
        for spec, path in zip(specs, paths, strict=True):
            base_url = await stack.enter_async_context(
                _server(
                    path,
                    spec.name,
                    threads=default_threads(len(specs)) if threads is None else threads,
                    ctx_tokens=8192,
                    seed=0,
                    ready_timeout_s=ready_timeout_s,
                )
            )
            endpoints.append(
                Endpoint(
                    base_url=base_url,
                    model=spec.name,
                    max_concurrency=1,
                    timeout_s=request_timeout_s,
                )
            )
        yield LocalPair(teacher=endpoints[0], student=endpoints[-1])
