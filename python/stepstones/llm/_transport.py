"""A lean HTTP/1.1 keep-alive transport for plain-HTTP model servers (vLLM, SGLang, llama.cpp).

httpx's default pool (httpcore) checks every pooled connection for readability with a system call
each time a request is queued or finishes, so its CPU cost per request grows with the pool; at 64
requests in flight that bookkeeping costs more than the request itself. This transport keeps idle
connections on a LIFO stack and checks only the one it is about to reuse. It speaks exactly what
chat completions need: a request with a full body, a response with ``content-length``,
``transfer-encoding: chunked`` or read-to-close framing, read whole. TLS and proxies stay with
httpx's own transport, which the client uses for ``https://`` endpoints.

Errors are raised as the httpx exceptions httpx's own transport raises (``ConnectError``,
``ConnectTimeout``, ``ReadTimeout``, ``RemoteProtocolError``...), so callers translate one family.
"""

from __future__ import annotations

import select
import socket
from types import TracebackType

import anyio
import httpx
from anyio.abc import SocketAttribute, SocketStream
from anyio.streams.buffered import BufferedByteReceiveStream

__all__ = ["LeanTransport"]

_MAX_HEAD_BYTES = 64 * 1024
_NO_BODY_STATUSES = frozenset({204, 304})


class _Connection:
    __slots__ = ("reader", "sock", "stream")

    def __init__(self, stream: SocketStream) -> None:
        self.stream = stream
        self.reader = BufferedByteReceiveStream(stream)
        self.sock: socket.socket = stream.extra(SocketAttribute.raw_socket)

    async def close(self) -> None:
        with anyio.CancelScope(shield=True):
            await self.stream.aclose()

    def is_stale(self) -> bool:
        """An idle connection is stale when it is readable: the server closed it (EOF) or sent
        bytes nobody asked for. Either way it cannot carry a new request."""
        if self.reader.buffer:
            return True
        try:
            readable, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)


def _timeouts(request: httpx.Request) -> tuple[float | None, float | None]:
    timeout = request.extensions.get("timeout") or {}
    return timeout.get("connect"), timeout.get("read")


def _head_bytes(request: httpx.Request, body: bytes) -> bytes:
    url = request.url
    target = url.raw_path.decode("ascii")
    lines = [f"{request.method} {target} HTTP/1.1".encode("ascii")]
    has_host = False
    for name, value in request.headers.raw:
        lower = name.lower()
        if lower in (b"content-length", b"transfer-encoding"):
            continue
        if lower == b"host":
            has_host = True
        lines.append(name + b": " + value)
    if not has_host:
        lines.append(b"Host: " + url.netloc)
    if body or request.method not in ("GET", "HEAD"):
        lines.append(b"Content-Length: " + str(len(body)).encode("ascii"))
    return b"\r\n".join(lines) + b"\r\n\r\n"


async def _read_chunked(reader: BufferedByteReceiveStream) -> bytes:
    parts: list[bytes] = []
    while True:
        size_line = await reader.receive_until(b"\r\n", 1024)
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError as exc:
            raise httpx.RemoteProtocolError(f"bad chunk size line {size_line[:40]!r}") from exc
        if size == 0:
            while await reader.receive_until(b"\r\n", _MAX_HEAD_BYTES):
                pass  # trailers, up to the empty line
            return b"".join(parts)
        parts.append(await reader.receive_exactly(size))
        if await reader.receive_exactly(2) != b"\r\n":
            raise httpx.RemoteProtocolError("chunk not followed by CRLF")


async def _read_to_close(reader: BufferedByteReceiveStream) -> bytes:
    parts: list[bytes] = []
    while True:
        try:
            parts.append(await reader.receive())
        except anyio.EndOfStream:
            return b"".join(parts)


async def read_response(
    reader: BufferedByteReceiveStream, method: str
) -> tuple[int, list[tuple[bytes, bytes]], bytes, bool]:
    """Status, headers, body, and whether the connection can be reused."""
    head = await reader.receive_until(b"\r\n\r\n", _MAX_HEAD_BYTES)
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise httpx.RemoteProtocolError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
    try:
        status = int(parts[1])
    except ValueError as exc:
        raise httpx.RemoteProtocolError(f"bad status code in {lines[0][:80]!r}") from exc
    headers: list[tuple[bytes, bytes]] = []
    length: int | None = None
    chunked = False
    keep_alive = parts[0] == b"HTTP/1.1"
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep:
            raise httpx.RemoteProtocolError(f"bad header line {line[:80]!r}")
        name, value = name.strip(), value.strip()
        headers.append((name, value))
        lower = name.lower()
        if lower == b"content-length":
            try:
                length = int(value)
            except ValueError as exc:
                raise httpx.RemoteProtocolError(f"bad content-length {value!r}") from exc
        elif lower == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif lower == b"connection":
            token = value.lower()
            if b"close" in token:
                keep_alive = False
            elif b"keep-alive" in token:
                keep_alive = True
    if method == "HEAD" or status in _NO_BODY_STATUSES or 100 <= status < 200:
        body = b""
    elif chunked:
        body = await _read_chunked(reader)
    elif length is not None:
        body = await reader.receive_exactly(length)
    else:
        body = await _read_to_close(reader)
        keep_alive = False
    return status, headers, body, keep_alive


class LeanTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 over plain TCP with a LIFO pool of keep-alive connections per host.

    The number of connections is bounded by the caller's concurrency (the client's capacity
    limiter), not here; at most ``max_idle`` idle connections per host are kept.
    """

    def __init__(self, *, max_idle: int = 256) -> None:
        self._idle: dict[tuple[bytes, int], list[_Connection]] = {}
        self._max_idle = max_idle
        self._closed = False

    async def __aenter__(self) -> LeanTransport:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self.aclose()

    async def _connect(self, host: str, port: int, timeout_s: float | None) -> _Connection:
        try:
            with anyio.fail_after(timeout_s):
                stream = await anyio.connect_tcp(host, port)
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(f"connecting to {host}:{port} timed out") from exc
        except OSError as exc:
            raise httpx.ConnectError(f"cannot connect to {host}:{port}: {exc}") from exc
        return _Connection(stream)

    async def _take_idle(self, key: tuple[bytes, int]) -> _Connection | None:
        stack = self._idle.get(key)
        while stack:
            conn = stack.pop()
            if not conn.is_stale():
                return conn
            await conn.close()
        return None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._closed:
            raise httpx.ConnectError("the transport was closed")
        url = request.url
        if url.scheme != "http":
            raise httpx.UnsupportedProtocol(f"LeanTransport speaks plain http, not {url.scheme}")
        body = await request.aread()
        port = url.port or 80
        key = (url.raw_host, port)
        connect_s, read_s = _timeouts(request)
        conn = await self._take_idle(key)
        if conn is None:
            conn = await self._connect(url.host, port, connect_s)
        reusable = False
        try:
            try:
                await conn.stream.send(_head_bytes(request, body) + body)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
                raise httpx.WriteError(f"sending the request failed: {exc!r}") from exc
            try:
                with anyio.fail_after(read_s):
                    status, headers, content, reusable = await read_response(
                        conn.reader, request.method
                    )
            except TimeoutError as exc:
                raise httpx.ReadTimeout("no response within the read timeout") from exc
            except anyio.IncompleteRead as exc:
                raise httpx.RemoteProtocolError(
                    "peer closed connection without sending complete message body"
                ) from exc
            except anyio.EndOfStream as exc:
                raise httpx.RemoteProtocolError(
                    "server disconnected without sending a response"
                ) from exc
            except anyio.DelimiterNotFound as exc:
                raise httpx.RemoteProtocolError("response head too large") from exc
            except (anyio.BrokenResourceError, OSError) as exc:
                raise httpx.ReadError(f"reading the response failed: {exc!r}") from exc
        finally:
            stack = self._idle.setdefault(key, [])
            if reusable and not self._closed and len(stack) < self._max_idle:
                stack.append(conn)
            else:
                await conn.close()
        return httpx.Response(
            status,
            headers=headers,
            content=content,
            request=request,
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def aclose(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, {}
        for stack in idle.values():
            for conn in stack:
                await conn.close()
