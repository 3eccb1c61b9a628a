"""Running the reward app under uvicorn: in the foreground (the CLI) or as an async context
(tests, benchmarks, embedding in another anyio program).

uvicorn handles SIGINT/SIGTERM gracefully: it stops accepting, lets in-flight requests finish
for up to ``graceful_timeout_s``, then runs the app's lifespan shutdown.

Slow clients are dropped at two points: uvicorn's HTTP protocol gets a deadline for the request
head (``header_timeout_s``, :class:`_HeadDeadlineProtocol`: the app is not called before the
headers are complete, so only the protocol can see a client trickling them), and the app reads
the body under ``body_timeout_s`` (``RewardApp._read_body``). Idle kept-alive connections are
closed after ``timeout_keep_alive`` (uvicorn's own timer).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, ClassVar

import anyio
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from stepstones.errors import ServeError
from stepstones.serve._app import RewardApp

__all__ = ["bind", "running", "uvicorn_config"]

#: Seconds an idle kept-alive connection stays open (uvicorn's default too).
KEEP_ALIVE_S = 5.0


class _HeadDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, plus a deadline for each request's line and headers.

    The clock starts when the connection opens, and again at the first byte of each further
    request on a kept-alive connection (uvicorn's keep-alive timer covers the idle time before
    it); it stops when the headers are complete. Past it the client gets 408 and is closed.
    """

    head_timeout_s: ClassVar[float] = 10.0
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._head_timer is None:
            self._arm_head()

    def on_headers_complete(self) -> None:
        self._disarm_head()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head()
        super().connection_lost(exc)

    def _arm_head(self) -> None:
        self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_expired)

    def _disarm_head(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_expired(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:  # never inside another response
            body = (
                b'{"error":"the request line and headers did not arrive within '
                + str(self.head_timeout_s).encode()
                + b' s (header_timeout_s)"}'
            )
            self.transport.write(
                b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
                b"content-length: "
                + str(len(body)).encode()
                + b"\r\nconnection: close\r\n\r\n"
                + body
            )
        self.transport.close()


def _protocol(head_timeout_s: float) -> type[HttpToolsProtocol]:
    """The protocol class uvicorn instantiates per connection, with this head deadline."""
    return type(
        "HeadDeadlineProtocol", (_HeadDeadlineProtocol,), {"head_timeout_s": head_timeout_s}
    )


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
        "http": _protocol(cfg.header_timeout_s),
        "timeout_keep_alive": KEEP_ALIVE_S,
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
                        raise ServeError("the reward server failed to start (see its log)")
                    await anyio.sleep(0.005)
            try:
                shown = f"[{host}]" if ":" in host else host
                yield f"http://{shown}:{port}"
            finally:
                server.should_exit = True
    finally:
        sock.close()
