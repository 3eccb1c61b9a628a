"""Running the reward app under uvicorn: in the foreground (the CLI) or as an async context
(tests, benchmarks, embedding in another anyio program).

uvicorn handles SIGINT/SIGTERM gracefully: it stops accepting, lets in-flight requests finish
for up to ``graceful_timeout_s``, then runs the app's lifespan shutdown.

Slow clients are dropped by uvicorn's HTTP protocol, extended here (:class:`_DeadlineProtocol`)
with a deadline for each request's head (``header_timeout_s``: the app is not called before the
headers are complete, so only the protocol can see a client trickling them) and one for its
body (``body_timeout_s``). Idle kept-alive connections are closed after ``timeout_keep_alive``
(uvicorn's own timer). The deadlines live in the protocol, not the app, because a timer per
connection costs microseconds where a cancel scope per request costs tens of them.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, ClassVar

import anyio
import msgspec
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from stepstones.errors import ServeError
from stepstones.serve._app import BODY_TIMEOUT, App

__all__ = ["bind", "running", "uvicorn_config"]

#: Seconds an idle kept-alive connection stays open (uvicorn's default too).
KEEP_ALIVE_S = 5.0


class _DeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, plus deadlines for each request's head and body.

    The head clock starts when the connection opens, and again at the first byte of each
    further request on a kept-alive connection (uvicorn's keep-alive timer covers the idle time
    before it); it stops when the headers are complete. The body clock then runs until the
    whole body is in. Past either, the client gets 408 and the connection is closed; a request
    whose body was cut off this way reaches the app as a disconnect, marked in its scope's
    ``extensions`` so the app counts it as 408.

    A request only writes down when its current phase must end (one float); whether the body
    is still awaited is read from uvicorn's own request state. One sweep per server, every
    tenth of the shorter deadline (0.05 to 1 s) while connections are open, closes the late
    ones: a timer per request would cost more than the rest of the request's handling in this
    class (uvloop timers take microseconds to create and cancel).
    """

    head_timeout_s: ClassVar[float] = 10.0
    body_timeout_s: ClassVar[float] = 30.0
    _sweeping: ClassVar[bool] = False
    _phase = ""  # "head" or "body": what the connection awaits from the client
    _deadline = 0.0  # loop time when that phase must be over

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._phase, self._deadline = "head", self.loop.time() + self.head_timeout_s
        cls = type(self)
        if not cls._sweeping:
            cls._sweeping = True
            self.loop.call_later(cls._interval(), cls._sweep, self.loop, self.connections)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._phase != "head":  # a further request on a kept-alive connection
            self._phase, self._deadline = "head", self.loop.time() + self.head_timeout_s

    def on_headers_complete(self) -> None:
        self._phase, self._deadline = "body", self.loop.time() + self.body_timeout_s
        super().on_headers_complete()

    def _late(self, now: float) -> bool:
        if not self._phase or now < self._deadline:
            return False
        if self._phase == "head":
            return True
        cycle = self.cycle  # the body is late only while it is still awaited and unanswered
        return cycle is not None and cycle.more_body and not cycle.response_started

    @classmethod
    def _interval(cls) -> float:
        return min(1.0, max(0.05, min(cls.head_timeout_s, cls.body_timeout_s) / 10))

    @classmethod
    def _sweep(cls, loop: asyncio.AbstractEventLoop, connections: set[Any]) -> None:
        now = loop.time()
        for conn in list(connections):
            if isinstance(conn, _DeadlineProtocol) and conn._late(now):
                conn._expire()
        if connections:
            loop.call_later(cls._interval(), cls._sweep, loop, connections)
        else:
            cls._sweeping = False

    def _expire(self) -> None:
        phase, self._phase = self._phase, ""
        cycle = self.cycle
        if phase == "head":
            # Never write into another response (a pipelined request's head may be the late one).
            idle = cycle is None or cycle.response_complete
            self._refuse(
                "the request line and headers", "header_timeout_s", self.head_timeout_s, idle
            )
            return
        if cycle is not None:
            cycle.scope.setdefault("extensions", {})[BODY_TIMEOUT] = {}
        self._refuse("the body", "body_timeout_s", self.body_timeout_s, True)

    def _refuse(self, what: str, setting: str, seconds: float, answer: bool) -> None:
        if self.transport.is_closing():
            return
        if answer:
            body = msgspec.json.encode(
                {"error": f"{what} did not arrive within {seconds} s ({setting})"}
            )
            self.transport.write(
                b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body)
            )
        self.transport.close()


def _protocol(head_timeout_s: float, body_timeout_s: float) -> type[HttpToolsProtocol]:
    """The protocol class uvicorn instantiates per connection, with these deadlines."""
    return type(
        "DeadlineProtocol",
        (_DeadlineProtocol,),
        {"head_timeout_s": head_timeout_s, "body_timeout_s": body_timeout_s},
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


def uvicorn_config(app: App, **overrides: Any) -> uvicorn.Config:
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
        "http": _protocol(cfg.header_timeout_s, cfg.body_timeout_s),
        "timeout_keep_alive": KEEP_ALIVE_S,
    }
    kwargs.update(overrides)
    return uvicorn.Config(app, **kwargs)


@asynccontextmanager
async def running(
    app: App, *, startup_timeout_s: float = 30.0, **overrides: Any
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
