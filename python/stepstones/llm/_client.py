"""The async client for OpenAI-compatible chat-completions servers.

One :class:`Client` per endpoint: it owns an ``httpx.AsyncClient`` (transport injectable), one
capacity limiter bounding requests in flight, and the retry policy. Every httpx and decoding error
is translated into the :class:`~stepstones.errors.LLMError` tree here, in :meth:`_attempt`.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Self

import anyio
import httpx
import msgspec

from stepstones.errors import (
    ConfigError,
    LLMAuthError,
    LLMConnectionError,
    LLMError,
    LLMResponseError,
    LLMStatusError,
    LLMTimeoutError,
)
from stepstones.llm._endpoint import Endpoint
from stepstones.llm._retry import RetryPolicy, retry_delay_s
from stepstones.llm._think import split_think
from stepstones.llm._transport import LeanTransport
from stepstones.llm._types import ChatResult, Choice, Sampling
from stepstones.llm._wire import WireCompletion, decode_completion, encode_request
from stepstones.records import Message, Usage

__all__ = ["Client"]

logger = logging.getLogger("stepstones.llm")

_DEFAULT_SAMPLING = Sampling()
_SNIPPET_CHARS = 300


class _Failure(msgspec.Struct, frozen=True):
    """A failed attempt that may be retried: the error to raise, and what the server said."""

    error: LLMConnectionError | LLMStatusError
    status_code: int | None = None
    headers: dict[str, str] = {}


class _Reply(msgspec.Struct, frozen=True):
    """The useful part of one successful HTTP request."""

    choices: tuple[Choice, ...]
    prompt_tokens: int
    completion_tokens: int
    latency_s: float


def _choice_of(
    wire_message_content: str | None, reasoning: str | None, finish: str | None
) -> Choice:
    content = wire_message_content or ""
    think, text = split_think(content)
    if reasoning and think:
        reasoning = f"{reasoning}\n{think}"
    return Choice(text, reasoning or think, finish)


def _choices(completion: WireCompletion) -> tuple[Choice, ...]:
    ordered = sorted(completion.choices, key=lambda c: c.index)
    return tuple(
        _choice_of(
            c.message.content,
            c.message.reasoning_content or c.message.reasoning,
            c.finish_reason,
        )
        for c in ordered
    )


class Client:
    """Async client of one OpenAI-compatible chat-completions endpoint.

    Plain ``http://`` endpoints (vLLM, SGLang, llama.cpp on a node) go through
    :class:`~stepstones.llm._transport.LeanTransport`; ``https://`` ones through httpx's own
    transport (TLS, proxies). Use as
    ``async with Client(endpoint) as client: await client.chat(messages, n=8)``.

    transport: an ``httpx.AsyncBaseTransport`` to use instead (an ASGI app, a recording
        transport, httpx's own pool); ``None`` picks as said above. httpx's environment proxy
        settings apply either way.
    retry: the retry policy for 408/409/429/5xx statuses and connection errors. Timeouts are
        not retried: ``endpoint.timeout_s`` is the whole budget of an attempt.
    limiter: the capacity limiter bounding requests in flight (default: a new one with
        ``endpoint.max_concurrency`` tokens). Share one client, or pass the same limiter, when
        several roles use the same server (e.g. teacher and student on the embedded model).

    ``n`` samples are asked for in one request; when the server returns fewer (llama.cpp's
    server ignores ``n``), the rest are requested in parallel with ``n=1``, and the client
    remembers to split at once on later calls.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        limiter: anyio.CapacityLimiter | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.retry = RetryPolicy() if retry is None else retry
        self.limiter = (
            anyio.CapacityLimiter(endpoint.max_concurrency) if limiter is None else limiter
        )
        self._url = endpoint.chat_url
        self._splits_n = False
        headers = {"content-type": "application/json", "accept": "application/json"}
        if endpoint.api_key:
            headers["authorization"] = f"Bearer {endpoint.api_key}"
        if transport is None and self._url.startswith("http://"):
            transport = LeanTransport()
        self._http = httpx.AsyncClient(
            transport=transport,
            headers=headers,
            timeout=httpx.Timeout(endpoint.timeout_s, connect=min(10.0, endpoint.timeout_s)),
            limits=httpx.Limits(
                max_connections=endpoint.max_concurrency,
                max_keepalive_connections=endpoint.max_concurrency,
            ),
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"Client({self.endpoint!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool (and the injected transport)."""
        await self._http.aclose()

    async def chat(
        self,
        messages: Sequence[Message],
        sampling: Sampling = _DEFAULT_SAMPLING,
        n: int = 1,
    ) -> ChatResult:
        """Sample ``n`` completions of ``messages``; the result has exactly ``n`` choices.

        Raises an :class:`~stepstones.errors.LLMError` subclass when the server cannot be
        reached, times out, answers an error status after the retries, or sends something that
        is not a chat completion.
        """
        if n < 1:
            raise ConfigError(f"n must be >= 1, got {n}")
        if not messages:
            raise ConfigError("messages must not be empty")
        parts: list[_Reply] = []
        if n == 1 or not self._splits_n:
            first = await self._request(messages, sampling, n, sampling.seed)
            parts.append(first)
            have = len(first.choices)
            if have < n and have == 1:
                self._splits_n = True
        else:
            have = 0
        if have < n:
            parts.extend(await self._fan_out(messages, sampling, have, n))
        choices = tuple(c for part in parts for c in part.choices)[:n]
        usage = Usage(
            prompt_tokens=sum(p.prompt_tokens for p in parts),
            completion_tokens=sum(p.completion_tokens for p in parts),
            requests=len(parts),
            latency_s=sum(p.latency_s for p in parts),
        )
        return ChatResult(choices, usage)

    async def _fan_out(
        self, messages: Sequence[Message], sampling: Sampling, start: int, n: int
    ) -> list[_Reply]:
        """Requests ``n - start`` single samples in parallel (seed offset by sample index)."""
        slots: list[_Reply | None] = [None] * (n - start)
        failures: list[LLMError] = []

        async def one(i: int) -> None:
            seed = None if sampling.seed is None else sampling.seed + start + i
            try:
                reply = await self._request(messages, sampling, 1, seed)
            except LLMError as exc:
                failures.append(exc)
                tg.cancel_scope.cancel()
                return
            slots[i] = reply

        async with anyio.create_task_group() as tg:
            for i in range(n - start):
                tg.start_soon(one, i)
        if failures:
            raise failures[0]
        return [s for s in slots if s is not None]

    async def _request(
        self, messages: Sequence[Message], sampling: Sampling, n: int, seed: int | None
    ) -> _Reply:
        body = encode_request(self.endpoint.model, messages, sampling, n, seed)
        async with self.limiter:
            attempt = 0
            while True:
                attempt += 1
                outcome = await self._attempt(body)
                if isinstance(outcome, _Reply):
                    return outcome
                delay = retry_delay_s(
                    self.retry,
                    attempt,
                    status_code=outcome.status_code,
                    headers=outcome.headers,
                    now_s=time.time(),
                    rand=random.random(),
                )
                if delay is None:
                    raise outcome.error
                logger.warning(
                    "retrying %s in %.2f s after attempt %d failed: %s",
                    self._url,
                    delay,
                    attempt,
                    outcome.error,
                )
                await anyio.sleep(delay)

    def _scrub(self, text: str) -> str:
        key = self.endpoint.api_key
        return text.replace(key, "***") if key else text

    async def _attempt(self, body: bytes) -> _Reply | _Failure:
        """One HTTP request; the choke point where httpx errors become LLMErrors.

        Returns the reply, or a :class:`_Failure` for errors the retry policy may retry
        (connection errors and error statuses); raises the errors that are never retried.
        """
        url = self._url
        started = time.perf_counter()
        try:
            with anyio.fail_after(self.endpoint.timeout_s):
                response = await self._http.post(url, content=body)
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise LLMTimeoutError(
                f"no complete reply from {url} within timeout_s={self.endpoint.timeout_s}: "
                "raise Endpoint.timeout_s or lower max_tokens"
            ) from exc
        except httpx.TransportError as exc:
            conn = LLMConnectionError(
                self._scrub(f"connection to {url} failed: {type(exc).__name__}: {exc}")
            )
            conn.__cause__ = exc
            return _Failure(conn)
        latency_s = time.perf_counter() - started
        status = response.status_code
        if status != 200:
            snippet = self._scrub(response.text[:_SNIPPET_CHARS])
            message = f"{url} answered HTTP {status}: {snippet}"
            error: LLMStatusError
            if status in (401, 403):
                error = LLMAuthError(
                    f"{message} (check the API key of this endpoint)", status_code=status
                )
            else:
                error = LLMStatusError(message, status_code=status)
            headers = {k.lower(): v for k, v in response.headers.items()}
            return _Failure(error, status, headers)
        content_type = response.headers.get("content-type", "")
        if "json" not in content_type:
            raise LLMResponseError(
                f"{url} answered with content-type {content_type!r}, not JSON: is base_url "
                "the API root of an OpenAI-compatible server (ending in /v1)?"
            )
        try:
            completion = decode_completion(response.content)
        except msgspec.DecodeError as exc:
            snippet = self._scrub(response.text[:_SNIPPET_CHARS])
            raise LLMResponseError(
                f"malformed chat completion from {url}: {exc}; body starts {snippet!r}"
            ) from exc
        if not completion.choices:
            raise LLMResponseError(f"{url} returned a chat completion with no choices")
        usage = completion.usage
        return _Reply(
            _choices(completion),
            usage.prompt_tokens if usage else 0,
            usage.completion_tokens if usage else 0,
            latency_s,
        )
