"""The reward server as a raw ASGI application (served by uvicorn; no web framework).

Routes::

    POST /get_reward   OpenRLHF's remote reward protocol: {"query", "prompts", "labels"} ->
                       {"rewards", "scores", "extra_logs"}; 200 with a number per item once
                       the request is well formed
    POST /run_code     SandboxFusion-compatible Python execution (verl's sandbox path)
    GET  /healthz      liveness, no token needed
    GET  /metrics      Prometheus text format
    GET  /ledger       the live ledger (``ledger_dir`` set): every problem's windowed pass rate
    GET  /ledger/{id}  one problem's live state with example answers

Bad requests get a 4xx with a JSON ``{"error": ...}`` that says what to fix, and the
connection is closed: 400 malformed or too deeply nested JSON, 401 missing or wrong token, 404
/ 405 wrong route or method, 408 headers or body not sent within ``header_timeout_s`` /
``body_timeout_s``, 413 body or item count over the limits, 422 wrong shape; 503 with
``Retry-After`` when ``max_pending_requests`` are being handled. Once a reward request is well
formed, every item gets a number, 0.0 with a logged reason when its grading failed (a bad
label included). Parsing is linear in the body's size, and big bodies are parsed in a worker
thread, so no request stalls the others.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import msgspec

from stepstones.errors import RunCodeError
from stepstones.serve._config import Config
from stepstones.serve._cut import cut_responses
from stepstones.serve._ledger import Ledger
from stepstones.serve._metrics import CONTENT_TYPE
from stepstones.serve._rewarder import OUTCOMES, Rewarder, Verdict
from stepstones.serve._runcode import RunCodeRequest, run_code

__all__ = ["BODY_TIMEOUT", "App", "Request"]

#: The scope extension the server's protocol sets when it cut a body off at body_timeout_s.
BODY_TIMEOUT = "stepstones.body_timeout"

log = logging.getLogger("stepstones.serve")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class Request(msgspec.Struct, frozen=True):
    """OpenRLHF's remote reward request: ``query`` is prompt + response (special tokens kept)."""

    query: list[str]
    prompts: list[str] | None = None
    labels: list[Any] | None = None
    step: int | None = None  # the trainer's step, recorded in the live ledger when it is sent


class _HTTPError(Exception):
    def __init__(self, status: int, message: str, headers: tuple[tuple[bytes, bytes], ...] = ()):
        super().__init__(message)
        self.status = status
        self.headers = headers


_json = msgspec.json.Encoder()
_reward_request = msgspec.json.Decoder(Request)
_run_code_request = msgspec.json.Decoder(RunCodeRequest)
_JSON = (b"content-type", b"application/json")
_CLOSE = (b"connection", b"close")


class App:
    """The ASGI callable. ``rewarder`` grades; ``config`` bounds and secures."""

    def __init__(self, rewarder: Rewarder, config: Config | None = None) -> None:
        self.rewarder = rewarder
        self.config = config if config is not None else Config()
        self.metrics = rewarder.metrics
        self._token = None if self.config.token is None else self.config.token.encode()
        self.ledger: Ledger | None = None
        if self.config.ledger_dir is not None:
            self.ledger = Ledger(self.config.ledger_dir, window=self.config.ledger_window)
            rewarder.ledger = self.ledger
        self._pending = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    _ = self.rewarder.sandbox  # start (or fail) now, not on the first request
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.ledger is not None:
                    self.ledger.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        method, path = scope["method"], scope["path"]
        route = path if path in ("/get_reward", "/run_code", "/healthz", "/metrics") else "other"
        route = "/ledger" if path.startswith("/ledger") and self.ledger is not None else route
        self.metrics.in_flight += 1
        status = 500
        try:
            status, body, headers = await self._dispatch(method, path, scope, receive)
        except _HTTPError as exc:
            status, body, headers = exc.status, _json.encode({"error": str(exc)}), exc.headers
            if status == 503:
                self.metrics.refused_busy()
        except Exception as exc:  # a bug here must not kill the connection without an answer
            log.exception("internal error on %s %s", method, path)
            status, body, headers = 500, _json.encode({"error": f"internal error: {exc}"}), ()
        finally:
            self.metrics.in_flight -= 1
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    *(() if any(h[0] == b"content-type" for h in headers) else (_JSON,)),
                    *headers,
                    (b"content-length", str(len(body)).encode()),
                    # An error may leave the body unread (or still trickling in): end the
                    # connection rather than keep reading what nobody will use.
                    *((_CLOSE,) if status >= 400 else ()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
        self.metrics.request(route, status, time.perf_counter() - started)

    async def _dispatch(
        self, method: str, path: str, scope: Scope, receive: Receive
    ) -> tuple[int, bytes, tuple[tuple[bytes, bytes], ...]]:
        if path == "/healthz":
            self._allow(method, "GET")
            return 200, b'{"status":"ok"}', ()
        self._authorise(scope)
        if path == "/metrics":
            self._allow(method, "GET")
            ledger = "" if self.ledger is None else self.ledger.metrics()
            return (
                200,
                (self.metrics.render() + ledger).encode(),
                ((b"content-type", CONTENT_TYPE.encode()),),
            )
        if path == "/get_reward":
            self._allow(method, "POST")
            return 200, await self._get_reward(scope, receive), ()
        if (path == "/ledger" or path.startswith("/ledger/")) and self.ledger is not None:
            self._allow(method, "GET")
            status, body = self.ledger.view.http(path, scope.get("query_string", b""))
            return status, body, ()
        if path == "/run_code" and self.config.run_code:
            self._allow(method, "POST")
            return 200, await self._run_code(scope, receive), ()
        raise _HTTPError(
            404,
            f"no route {path!r}: use POST /get_reward, POST /run_code, GET /healthz, GET /metrics",
        )

    @staticmethod
    def _allow(method: str, expected: str) -> None:
        if method != expected:
            raise _HTTPError(
                405, f"use {expected} here, not {method}", ((b"allow", expected.encode()),)
            )

    def _authorise(self, scope: Scope) -> None:
        """Require ``Authorization: Bearer <token>``: the scheme in any case (HTTP auth schemes
        are case-insensitive), then one or more spaces, then exactly the token (compared in
        constant time; nothing before or after it). One Authorization header only."""
        if self._token is None:
            return
        given = [value for name, value in scope["headers"] if name == b"authorization"]
        scheme, _, token = given[0].partition(b" ") if len(given) == 1 else (b"", b"", b"")
        token = token.lstrip(b" ")
        # compare_digest runs on the token whatever the scheme, so the time does not tell which.
        right = hmac.compare_digest(token, self._token)
        if not (right and scheme.lower() == b"bearer"):
            raise _HTTPError(
                401,
                "missing or wrong bearer token: send 'Authorization: Bearer <token>'",
                ((b"www-authenticate", b"Bearer"),),
            )

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        limit = self.config.max_body_kib * 1024
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    raise _HTTPError(400, "content-length is not a number") from None
                if declared > limit:
                    raise _HTTPError(
                        413,
                        f"body of {declared} bytes exceeds the {limit}-byte limit (max_body_kib)",
                    )
        chunks: list[bytes] = []
        size = 0
        # A client that sends its body slowly holds a pending slot; the server's protocol
        # (serve._server) cuts it off after body_timeout_s and marks the scope.
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                if BODY_TIMEOUT in scope.get("extensions", {}):
                    raise _HTTPError(
                        408,
                        f"the body did not arrive within {self.config.body_timeout_s} s "
                        "(body_timeout_s): send the whole request at once",
                    )
                raise _HTTPError(400, "client disconnected before sending the whole body")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _HTTPError(413, f"body exceeds the {limit}-byte limit (max_body_kib)")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _admit(self) -> None:
        if self._pending >= self.config.max_pending_requests:
            raise _HTTPError(
                503,
                f"server busy: {self._pending} requests pending (max_pending_requests); retry",
                ((b"retry-after", b"1"),),
            )

    async def _get_reward(self, scope: Scope, receive: Receive) -> bytes:
        self._admit()
        self._pending += 1
        try:
            body = await self._read_body(scope, receive)
            req = _decode(_reward_request, body, "a reward request")
            n = len(req.query)
            if n > self.config.max_items:
                raise _HTTPError(
                    413,
                    f"{n} items exceed the per-request limit of {self.config.max_items}",
                )
            if req.labels is None:
                raise _HTTPError(
                    422,
                    "labels is required: export the data with `stepstones export` and pass "
                    "--data.label_key label",
                )
            if len(req.labels) != n or (req.prompts is not None and len(req.prompts) != n):
                raise _HTTPError(
                    422,
                    f"query, prompts and labels must have the same length, got {n}, "
                    f"{None if req.prompts is None else len(req.prompts)} and {len(req.labels)}",
                )
            prompts = req.prompts if req.prompts is not None else [None] * n
            try:
                responses = await cut_responses(req.query, prompts)
                verdicts = await self.rewarder.score(responses, req.labels, step=req.step)
            except Exception as exc:  # a well-formed request always gets a number per item
                log.exception("reward 0.0 for %d items: internal error", n)
                verdicts = [Verdict(0.0, "grader_error", f"internal error: {exc}")] * n
        finally:
            self._pending -= 1
        rewards = [v.reward for v in verdicts]
        extra = {o: [1.0 if v.outcome == o else 0.0 for v in verdicts] for o in OUTCOMES}
        return _json.encode({"rewards": rewards, "scores": rewards, "extra_logs": extra})

    async def _run_code(self, scope: Scope, receive: Receive) -> bytes:
        self._admit()
        self._pending += 1
        try:
            req = _decode(
                _run_code_request, await self._read_body(scope, receive), "a run_code request"
            )
            try:
                result = await run_code(
                    self.rewarder.sandbox,
                    req,
                    max_run_timeout_s=self.config.max_run_timeout_s,
                    max_memory_mib=self.config.max_memory_mib,
                )
            except RunCodeError as exc:
                raise _HTTPError(400, str(exc)) from None
            except Exception as exc:
                log.warning("run_code failed: %s: %s", type(exc).__name__, exc)
                result = {
                    "status": "SandboxError",
                    "message": str(exc),
                    "compile_result": None,
                    "run_result": None,
                    "executor_pod_name": None,
                    "files": {},
                }
        finally:
            self._pending -= 1
        return _json.encode(result)


def _decode(decoder: msgspec.json.Decoder[Any], body: bytes, what: str) -> Any:
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise _HTTPError(422, f"not {what}: {exc}") from None
    except msgspec.DecodeError as exc:
        raise _HTTPError(400, f"body is not valid JSON: {exc}") from None
    except RecursionError:
        raise _HTTPError(400, "body is JSON nested too deeply: send flat labels") from None
