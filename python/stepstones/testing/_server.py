"""A scripted OpenAI-compatible server: a **test fixture**, not a model server.

It really listens on a loopback TCP port and speaks HTTP/1.1 (keep-alive included), so a client
under test goes through its real connection pool, parser and error handling. Each chat-completions
request is answered by a handler function, which can play any reply: a normal completion, an error
status with ``retry-after``, malformed JSON, a wrong content type, a slow reply, a truncated body
or a dropped connection (see :class:`~stepstones.testing.Reply`).
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, suppress
from http import HTTPStatus
from types import TracebackType
from typing import Any, Self

import anyio
from anyio.abc import SocketAttribute, SocketStream, TaskGroup
from anyio.streams.buffered import BufferedByteReceiveStream

from stepstones.testing._reply import Reply, Request

__all__ = ["Handler", "ScriptedLLMServer"]

logger = logging.getLogger("stepstones.testing")

Handler = Callable[[dict[str, Any]], "dict[str, Any] | Reply | Awaitable[dict[str, Any] | Reply]"]

_MAX_HEADER_BYTES = 64 * 1024


class _BadRequestError(Exception):
    pass


def _encode_body(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body).encode()


def _head(status: int, headers: dict[str, str]) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Status"
    lines = [f"HTTP/1.1 {status} {phrase}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class ScriptedLLMServer:
    """Test fixture: an OpenAI-compatible HTTP server on 127.0.0.1 whose answers are scripted.

    ``async with ScriptedLLMServer(handler) as srv:`` starts it on a free port inside the current
    event loop and stops it (closing every connection) on exit. ``srv.base_url`` is the API root
    to give an :class:`~stepstones.llm.Endpoint`. ``handler(body)`` gets the decoded JSON body of
    each ``POST .../chat/completions`` and returns a chat-completion dict or a
    :class:`~stepstones.testing.Reply` (it may be a coroutine function). Every request is
    recorded in ``srv.requests``; exceptions raised by the handler are answered with HTTP 500
    and kept in ``srv.errors`` so a test can fail on them.

    models: the model names served. Given, ``GET .../models`` lists exactly these and a chat
    request for any other name is answered as vLLM does (HTTP 404, "The model `x` does not
    exist.") without calling the handler. None (the default): any model name is accepted and
    ``GET .../models`` answers an empty list, which
    :func:`~stepstones.llm.check_endpoint` takes as "cannot check".
    """

    def __init__(
        self,
        handler: Handler,
        *,
        models: Sequence[str] | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        if isinstance(models, str):
            raise TypeError("models must be a sequence of model names, not one string")
        self.handler = handler
        self.models: tuple[str, ...] | None = None if models is None else tuple(models)
        self.host = host
        self.port = 0
        self.requests: list[Request] = []
        self.errors: list[BaseException] = []
        self._stack: AsyncExitStack | None = None
        self._tg: TaskGroup | None = None

    @property
    def base_url(self) -> str:
        """The API root, ``http://127.0.0.1:{port}/v1``."""
        return f"http://{self.host}:{self.port}/v1"

    async def __aenter__(self) -> Self:
        stack = AsyncExitStack()
        await stack.__aenter__()
        try:
            listener = await anyio.create_tcp_listener(local_host=self.host, local_port=0)
            stack.push_async_callback(listener.aclose)
            self.port = listener.extra(SocketAttribute.local_port)
            tg = await stack.enter_async_context(anyio.create_task_group())
            tg.start_soon(listener.serve, self._connection, tg)
        except BaseException:
            await stack.aclose()
            raise
        self._stack, self._tg = stack, tg
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._stack is not None and self._tg is not None
        self._tg.cancel_scope.cancel()
        stack, self._stack, self._tg = self._stack, None, None
        return await stack.__aexit__(exc_type, exc, tb)

    async def _connection(self, stream: SocketStream) -> None:
        async with stream:
            reader = BufferedByteReceiveStream(stream)
            while True:
                try:
                    request = await self._read_request(reader)
                except (anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError):
                    return
                except _BadRequestError as exc:
                    await self._send(stream, 400, {"error": {"message": str(exc)}}, {})
                    return
                keep_alive = request.headers.get("connection", "").lower() != "close"
                reply = await self._answer(request)
                if reply.delay_s > 0:
                    await anyio.sleep(reply.delay_s)
                if reply.drop:
                    return
                if not await self._send_reply(stream, reply) or not keep_alive:
                    return

    async def _read_request(self, reader: BufferedByteReceiveStream) -> Request:
        head = await reader.receive_until(b"\r\n\r\n", _MAX_HEADER_BYTES)
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, _version = lines[0].split(" ", 2)
        except ValueError as exc:
            raise _BadRequestError(f"bad request line {lines[0]!r}") from exc
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise _BadRequestError(f"bad header line {line!r}")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0") or "0")
        raw = await reader.receive_exactly(length) if length else b""
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError as exc:
                raise _BadRequestError(f"request body is not JSON: {exc}") from exc
        request = Request(method, target.split("?", 1)[0], headers, body)
        self.requests.append(request)
        return request

    async def _answer(self, request: Request) -> Reply:
        if request.method == "GET" and request.path.endswith("/models"):
            data = [{"id": m, "object": "model", "owned_by": "scripted"} for m in self.models or ()]
            return Reply(body={"object": "list", "data": data})
        if request.method != "POST" or not request.path.endswith("/chat/completions"):
            return Reply(status=404, body={"error": {"message": f"no route {request.path}"}})
        if not isinstance(request.body, dict):
            return Reply(status=400, body={"error": {"message": "body must be a JSON object"}})
        model = request.body.get("model")
        if self.models is not None and model not in self.models:
            message = f"The model `{model}` does not exist."
            error = {"message": message, "type": "NotFoundError", "param": None, "code": 404}
            return Reply(status=404, body={"error": error})
        try:
            result = self.handler(request.body)
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:  # a bug in the test's handler: answer 500, keep it for the test
            logger.exception("scripted handler failed")
            self.errors.append(exc)
            return Reply(status=500, body={"error": {"message": f"handler failed: {exc!r}"}})
        return result if isinstance(result, Reply) else Reply(body=result)

    async def _send_reply(self, stream: SocketStream, reply: Reply) -> bool:
        """Send ``reply``; False when the connection must be closed afterwards."""
        body = _encode_body(reply.body)
        headers = {k.lower(): v for k, v in reply.headers.items()}
        if reply.truncate_at is not None:
            headers.setdefault("content-type", "application/json")
            headers["content-length"] = str(len(body))
            with suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                await stream.send(_head(reply.status, headers) + body[: reply.truncate_at])
            return False
        return await self._send(stream, reply.status, body, headers)

    async def _send(
        self, stream: SocketStream, status: int, body: Any, headers: dict[str, str]
    ) -> bool:
        data = _encode_body(body)
        headers.setdefault("content-type", "application/json")
        headers["content-length"] = str(len(data))
        try:
            await stream.send(_head(status, headers) + data)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            return False
        return True
