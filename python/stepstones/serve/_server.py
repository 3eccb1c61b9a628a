"""Running the reward app under uvicorn: in the foreground (the CLI) or as an async context
(tests, benchmarks, embedding in another anyio program).

uvicorn handles SIGINT/SIGTERM gracefully: it stops accepting, lets in-flight requests finish
for up to ``graceful_timeout_s``, then runs the app's lifespan shutdown.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import uvicorn

from stepstones.serve._app import RewardApp

__all__ = ["bind", "running", "uvicorn_config"]


def bind(host: str, port: int, *, backlog: int = 4096) -> socket.socket:
    """A listening TCP socket (port 0 picks a free one); ``SO_REUSEADDR`` for quick restarts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
        sock.set_inheritable(True)
    except OSError:
        sock.close()  # a busy port or a foreign address leaves no socket open behind
        raise
    return sock


def uvicorn_config(app: RewardApp, **overrides: Any) -> uvicorn.Config:
    cfg = app.config
    kwargs: dict[str, Any] = {
        "host": cfg.host,
        "port": cfg.port,
        "lifespan": "on",
        "log_level": "warning",
        "access_log": False,
        "timeout_graceful_shutdown": cfg.graceful_timeout_s,
        "backlog": 4096,
        "server_header": False,
    }
    kwargs.update(overrides)
    return uvicorn.Config(app, **kwargs)


@asynccontextmanager
async def running(
    app: RewardApp, *, startup_timeout_s: float = 30.0, **overrides: Any
) -> AsyncIterator[str]:
    """Serve ``app`` on its configured host/port (0 = a free port) until the block exits;
    yields the base URL, e.g. ``http://127.0.0.1:41234``. Must run on the asyncio backend."""
    sock = bind(app.config.host, app.config.port)
    host, port = sock.getsockname()[:2]
    server = uvicorn.Server(uvicorn_config(app, **overrides))
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.serve, [sock])
            with anyio.fail_after(startup_timeout_s):
                while not server.started:
                    if server.should_exit:
                        raise RuntimeError("the reward server failed to start (see its log)")
                    await anyio.sleep(0.005)
            try:
                shown = f"[{host}]" if ":" in host else host
                yield f"http://{shown}:{port}"
            finally:
                server.should_exit = True
    finally:
        sock.close()
