"""The lean HTTP/1.1 transport against raw servers on loopback that send exact bytes."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio
import httpx
import pytest
from anyio.abc import SocketAttribute, SocketStream
from anyio.streams.buffered import BufferedByteReceiveStream
from hypothesis import given, settings
from hypothesis import strategies as st

from stepstones.llm._transport import LeanTransport
from stepstones.testing import ScriptedLLMServer, completion

pytestmark = pytest.mark.anyio

Serve = Callable[[SocketStream, BufferedByteReceiveStream, int], Awaitable[None]]


@asynccontextmanager
async def raw_server(serve: Serve) -> AsyncIterator[tuple[str, list[int]]]:
    """Accept connections; ``serve(stream, reader, conn_no)`` plays each. Yields the URL and
    a list recording the number of every connection accepted."""
    accepted: list[int] = []

    async def handle(stream: SocketStream) -> None:
        accepted.append(len(accepted))
        async with stream:
            await serve(stream, BufferedByteReceiveStream(stream), accepted[-1])

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        try:
            yield f"http://127.0.0.1:{port}", accepted
        finally:
            tg.cancel_scope.cancel()


async def read_request(reader: BufferedByteReceiveStream) -> bytes:
    head = await reader.receive_until(b"\r\n\r\n", 65536)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head + b"\r\n\r\n" + (await reader.receive_exactly(length) if length else b"")


async def post(client: httpx.AsyncClient, url: str) -> httpx.Response:
    return await client.post(f"{url}/v1/chat/completions", json={"q": 1})


async def test_sends_a_well_formed_request() -> None:
    seen: list[bytes] = []

    async def serve(stream: SocketStream, reader: BufferedByteReceiveStream, n: int) -> None:
        seen.append(await read_request(reader))
        await stream.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    async with raw_server(serve) as (url, _), httpx.AsyncClient(transport=LeanTransport()) as c:
        response = await c.post(f"{url}/v1/x?y=1", content=b'{"a":1}', headers={"X-K": "v"})
    assert response.status_code == 200
    assert response.text == "ok"
    head, _, body = seen[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /v1/x?y=1 HTTP/1.1"
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(b":") for line in lines[1:])}
    assert headers[b"host"] == url.removeprefix("http://").encode()
    assert headers[b"content-length"] == b"7"
    assert headers[b"x-k"] == b"v"
    assert body == b'{"a":1}'


async def test_chunked_body_and_keep_alive() -> None:
    async def serve(stream: SocketStream, reader: BufferedByteReceiveStream, n: int) -> None:
        for _ in range(3):
            await read_request(reader)
            await stream.send(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n"
            )

    server, http = raw_server(serve), httpx.AsyncClient(transport=LeanTransport())
    async with server as (url, accepted), http as client:
        texts = [(await post(client, url)).text for _ in range(3)]
    assert texts == ["hello, world"] * 3
    assert accepted == [0]  # one connection carried all three


async def test_read_to_close_body_and_connection_close() -> None:
    async def serve(stream: SocketStream, reader: BufferedByteReceiveStream, n: int) -> None:
        await read_request(reader)
        if n == 0:
            await stream.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil ")
            await stream.send(b"the end")
        else:
            await stream.send(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n!")
            await anyio.sleep(1)  # keeps the socket open: the client must not reuse it anyway

    server, http = raw_server(serve), httpx.AsyncClient(transport=LeanTransport())
    async with server as (url, accepted), http as client:
        assert (await post(client, url)).text == "until the end"
        assert (await post(client, url)).text == "!"
        assert (await post(client, url)).text == "!"
    assert accepted == [0, 1, 2]


async def test_stale_idle_connection_is_not_reused() -> None:
    async def serve(stream: SocketStream, reader: BufferedByteReceiveStream, n: int) -> None:
        await read_request(reader)
        await stream.send(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n" + str(n).encode())
        # then close the idle keep-alive connection, as servers do after their idle timeout

    server, http = raw_server(serve), httpx.AsyncClient(transport=LeanTransport())
    async with server as (url, accepted), http as client:
        assert (await post(client, url)).text == "0"
        await anyio.sleep(0.2)
        assert (await post(client, url)).text == "1"
    assert accepted == [0, 1]


async def test_no_body_statuses() -> None:
    async def serve(stream: SocketStream, reader: BufferedByteReceiveStream, n: int) -> None:
        await read_request(reader)
        await stream.send(b"HTTP/1.1 204 No Content\r\n\r\n")
        await read_request(reader)
        await stream.send(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nyes")

    server, http = raw_server(serve), httpx.AsyncClient(transport=LeanTransport())
    async with server as (url, accepted), http as client:
        first = await post(client, url)
        second = await post(client, url)
    assert (first.status_code, first.content) == (204, b"")
    assert second.text == "yes"
    assert accepted == [0]


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (b"", httpx.RemoteProtocolError),
        (b"SSH-2.0-OpenSSH\r\n\r\n", httpx.RemoteProtocolError),
        (b"HTTP/1.1 abc OK\r\n\r\n", httpx.RemoteProtocolError),
        (b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", httpx.RemoteProtocolError),
        (b"HTTP/1.1 200 OK\r\nbroken header\r\n\r\n", httpx.RemoteProtocolError),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", httpx.RemoteProtocolError),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", httpx.RemoteProtocolError),
    ],
)
async def test_broken_replies_raise_httpx_errors(reply: bytes, error: type[Exception]) -> None:
    async def serve(stream: SocketStream, reader: BufferedByteReceiveStream, n: int) -> None:
        await read_request(reader)
        if reply:
            await stream.send(reply)

    async with raw_server(serve) as (url, _), httpx.AsyncClient(transport=LeanTransport()) as c:
        with pytest.raises(error):
            await post(c, url)


async def test_timeouts_and_refused_connections() -> None:
    async def serve(stream: SocketStream, reader: BufferedByteReceiveStream, n: int) -> None:
        await read_request(reader)
        await anyio.sleep(10)

    timeout = httpx.Timeout(0.2)
    server, http = raw_server(serve), httpx.AsyncClient(transport=LeanTransport(), timeout=timeout)
    async with server as (url, _), http as client:
        with pytest.raises(httpx.ReadTimeout):
            await post(client, url)
    async with httpx.AsyncClient(transport=LeanTransport()) as client:
        with pytest.raises(httpx.ConnectError):
            await post(client, url)
        with pytest.raises(httpx.UnsupportedProtocol):
            await client.get("https://127.0.0.1:1/")


async def test_many_concurrent_requests_share_few_connections() -> None:
    def handler(body: dict[str, object]) -> dict[str, object]:
        return completion([json.dumps(body["q"])])

    async with ScriptedLLMServer(handler) as srv:
        transport = LeanTransport()
        async with httpx.AsyncClient(transport=transport) as client:
            answers: dict[int, str] = {}
            limiter = anyio.CapacityLimiter(8)

            async def one(i: int) -> None:
                async with limiter:
                    r = await client.post(f"{srv.base_url}/chat/completions", json={"q": i})
                answers[i] = r.json()["choices"][0]["message"]["content"]

            async with anyio.create_task_group() as tg:
                for i in range(200):
                    tg.start_soon(one, i)
            idle = sum(len(stack) for stack in transport._idle.values())
    assert answers == {i: str(i) for i in range(200)}
    assert 1 <= idle <= 8


async def test_gzip_bodies_are_decoded() -> None:
    import gzip

    payload = gzip.compress(b'{"ok": true}')

    async def serve(stream: SocketStream, reader: BufferedByteReceiveStream, n: int) -> None:
        await read_request(reader)
        head = (
            f"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {len(payload)}\r\n\r\n"
        )
        await stream.send(head.encode() + payload)

    async with raw_server(serve) as (url, _), httpx.AsyncClient(transport=LeanTransport()) as c:
        assert (await post(c, url)).json() == {"ok": True}


def _parse(wire: list[bytes], method: str = "POST") -> tuple[int, bytes, bool]:
    """Parse one response arriving as the given network reads, from an in-memory stream."""
    from stepstones.llm._transport import read_response

    async def main() -> tuple[int, bytes, bool]:
        send, receive = anyio.create_memory_object_stream[bytes](len(wire) + 1)
        async with send, receive:
            for piece in wire:
                send.send_nowait(piece)
            send.close()
            status, _, body, keep = await read_response(BufferedByteReceiveStream(receive), method)
            return status, body, keep

    return anyio.run(main)


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges) if b > a]


@given(st.binary(max_size=3000), st.lists(st.integers(1, 500), max_size=8), st.lists(st.integers()))
@settings(max_examples=150, deadline=None)
def test_chunked_framing_roundtrip(body: bytes, chunk_sizes: list[int], cuts: list[int]) -> None:
    encoded = b""
    rest = body
    for size in [*chunk_sizes, len(body) or 1]:
        piece, rest = rest[:size], rest[size:]
        if piece:
            encoded += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    encoded += b"0\r\n\r\n"
    wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + encoded
    assert _parse(_split(wire, cuts)) == (200, body, True)


@given(st.binary(max_size=3000), st.lists(st.integers()), st.booleans())
@settings(max_examples=150, deadline=None)
def test_content_length_framing_roundtrip(body: bytes, cuts: list[int], close: bool) -> None:
    head = f"HTTP/1.1 201 Created\r\nContent-Length: {len(body)}\r\n"
    if close:
        head += "Connection: close\r\n"
    wire = head.encode() + b"\r\n" + body
    assert _parse(_split(wire, cuts)) == (201, body, not close)
