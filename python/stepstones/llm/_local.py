"""The embedded default: llama.cpp's OpenAI-compatible server with a small pinned model.

:func:`local_endpoint` fetches and verifies the model (see :mod:`._model`), starts
``python -m llama_cpp.server`` on a free loopback port, waits for it to answer with a deadline,
yields an :class:`Endpoint` for it, and always stops the server on exit, also on error or
cancellation. Needs the ``local`` extra (``pip install 'stepstones[local]'``).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.abc
import httpx

from stepstones.errors import ConfigError, LLMConnectionError
from stepstones.llm._endpoint import Endpoint
from stepstones.llm._model import QWEN_CODER_05B, fetch_model

__all__ = ["LOCAL_MODEL_ALIAS", "default_threads", "local_available", "local_endpoint"]

logger = logging.getLogger("stepstones.llm")

#: The model name the embedded server answers to.
LOCAL_MODEL_ALIAS = "qwen2.5-coder-0.5b-instruct"
_STOP_GRACE_S = 10.0
_LOG_TAIL_CHARS = 2000


def local_available() -> bool:
    """True when the ``local`` extra (llama-cpp-python with its server) is installed."""
    needed = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "pydantic_settings")
    return all(importlib.util.find_spec(name) is not None for name in needed)


def default_threads() -> int:
    """Threads for llama.cpp: ``$STEPSTONES_LOCAL_THREADS``, else half the cores (1 on a
    shared 2-core machine, where the sandbox and the pipeline need the other core)."""
    text = os.environ.get("STEPSTONES_LOCAL_THREADS")
    if text:
        try:
            threads = int(text)
        except ValueError as exc:
            raise ConfigError(f"STEPSTONES_LOCAL_THREADS must be an integer, got {text!r}") from exc
        if threads < 1:
            raise ConfigError(f"STEPSTONES_LOCAL_THREADS must be >= 1, got {threads}")
        return threads
    return max(1, (os.cpu_count() or 1) // 2)


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
async def local_endpoint(
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

    model_path: a GGUF file to serve; default: the pinned Qwen2.5-Coder-0.5B-Instruct, fetched
        and verified into the cache on first use.
    threads: llama.cpp threads (default :func:`default_threads`).
    ctx_tokens: context window (prompt plus completion) in tokens.
    seed: llama.cpp's sampling seed, fixed so runs are repeatable.
    ready_timeout_s: deadline for the server to load the model and answer.
    request_timeout_s: ``timeout_s`` of the yielded endpoint (a 0.5B model on one busy core
        writes about 15-35 tokens/s, so a 2048-token answer takes minutes).
    max_concurrency: requests in flight; llama.cpp's Python server runs one at a time, so more
        would only wait inside the server while their timeouts run.
    """
    if not local_available():
        raise ConfigError(
            "the embedded local model needs llama.cpp's server: pip install 'stepstones[local]' "
            "(or configure an endpoint with STEPSTONES_BASE_URL and STEPSTONES_MODEL)"
        )
    path = model_path if model_path is not None else await anyio.to_thread.run_sync(fetch_model)
    n_threads = default_threads() if threads is None else threads
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    cmd = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model", str(path),
        "--model_alias", LOCAL_MODEL_ALIAS,
        "--host", "127.0.0.1",
        "--port", str(port),
        "--n_threads", str(n_threads),
        "--n_threads_batch", str(n_threads),
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
            name = path.name if model_path is not None else QWEN_CODER_05B.filename
            logger.info(
                "using the embedded local model %s (llama.cpp, %d thread%s) at %s; configure "
                "STEPSTONES_BASE_URL and STEPSTONES_MODEL to use your own server",
                name,
                n_threads,
                "" if n_threads == 1 else "s",
                base_url,
            )
            yield Endpoint(
                base_url=base_url,
                model=LOCAL_MODEL_ALIAS,
                max_concurrency=max_concurrency,
                timeout_s=request_timeout_s,
            )
        finally:
            await _stop(process)
