"""The client against a scripted OpenAI-compatible server that really listens on loopback."""

from __future__ import annotations

import logging
import time
from typing import Any

import anyio
import httpx
import pytest

from stepstones.errors import (
    LLMAuthError,
    LLMConnectionError,
    LLMError,
    LLMResponseError,
    LLMStatusError,
    LLMTimeoutError,
)
from stepstones.llm import ChatBackend, Client, Endpoint, RetryPolicy, Sampling
from stepstones.records import Message
from stepstones.testing import Reply, ScriptedLLMServer, completion

pytestmark = pytest.mark.anyio

KEY = "sk-live-SECRET-0123456789"
MESSAGES = [Message("system", "be brief"), Message("user", "2+2?")]
FAST_RETRY = RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.02)


def client_for(srv: ScriptedLLMServer, **kwargs: Any) -> Client:
    retry = kwargs.pop("retry", FAST_RETRY)
    ep = Endpoint(base_url=srv.base_url, model="m", api_key=KEY, **kwargs)
    return Client(ep, retry=retry)


def script(*replies: dict[str, Any] | Reply) -> Any:
    """A handler playing ``replies`` in order, then repeating the last one."""
    queue = list(replies)

    def handler(body: dict[str, Any]) -> dict[str, Any] | Reply:
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return handler


async def test_one_request_when_the_server_honours_n() -> None:
    def handler(body: dict[str, Any]) -> dict[str, Any]:
        return completion([f"answer {i}" for i in range(body["n"])], reasoning="thought")

    async with ScriptedLLMServer(handler) as srv, client_for(srv) as client:
        assert isinstance(client, ChatBackend)
        sampling = Sampling(
            temperature=0.6, top_p=0.9, max_tokens=77, stop=("```",), seed=5, reasoning_effort="low"
        )
        res = await client.chat(MESSAGES, sampling, n=4)
    assert [c.text for c in res.choices] == ["answer 0", "answer 1", "answer 2", "answer 3"]
    assert {c.reasoning for c in res.choices} == {"thought"}
    assert {c.finish_reason for c in res.choices} == {"stop"}
    assert (res.usage.requests, res.usage.prompt_tokens, res.usage.completion_tokens) == (1, 10, 8)
    assert res.usage.latency_s > 0
    [request] = srv.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.body == {
        "model": "m",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "2+2?"},
        ],
        "temperature": 0.6,
        "top_p": 0.9,
        "max_tokens": 77,
        "n": 4,
        "stop": ["```"],
        "seed": 5,
        "reasoning_effort": "low",
    }


async def test_optional_parameters_are_not_sent_by_default() -> None:
    async with ScriptedLLMServer(script(completion(["x"]))) as srv, client_for(srv) as client:
        await client.chat(MESSAGES)
    assert set(srv.requests[0].body) == {
        "model",
        "messages",
        "temperature",
        "top_p",
        "max_tokens",
        "n",
    }


async def test_fewer_choices_than_n_are_filled_by_parallel_requests() -> None:
    counter = iter(range(1000))

    def handler(body: dict[str, Any]) -> dict[str, Any]:  # llama.cpp style: ignores n
        return completion([f"sample {next(counter)} seed {body['seed']}"])

    async with ScriptedLLMServer(handler) as srv, client_for(srv) as client:
        res = await client.chat(MESSAGES, Sampling(seed=100), n=5)
        assert len(res.choices) == 5
        assert res.usage.requests == 5
        assert sorted(r.body["seed"] for r in srv.requests) == [100, 101, 102, 103, 104]
        assert [r.body["n"] for r in srv.requests] == [5, 1, 1, 1, 1]
        assert len({c.text for c in res.choices}) == 5
        # The client learned that this server ignores n: the next call splits at once.
        res = await client.chat(MESSAGES, Sampling(seed=7), n=3)
        assert len(res.choices) == 3
        assert [r.body["n"] for r in srv.requests[5:]] == [1, 1, 1]
        assert sorted(r.body["seed"] for r in srv.requests[5:]) == [7, 8, 9]


async def test_partial_n_is_topped_up() -> None:
    def handler(body: dict[str, Any]) -> dict[str, Any]:
        return completion(["a", "b"][: body["n"]])

    async with ScriptedLLMServer(handler) as srv, client_for(srv) as client:
        res = await client.chat(MESSAGES, n=5)
    assert [c.text for c in res.choices] == ["a", "b", "a", "a", "a"]
    assert [r.body["n"] for r in srv.requests] == [5, 1, 1, 1]
    assert "seed" not in srv.requests[1].body


async def test_too_many_choices_are_cut_to_n() -> None:
    handler = script(completion(["a", "b", "c"]))
    async with ScriptedLLMServer(handler) as srv, client_for(srv) as client:
        res = await client.chat(MESSAGES, n=2)
    assert [c.text for c in res.choices] == ["a", "b"]


async def test_think_tags_are_split_out_of_content() -> None:
    body = completion(["<think>let me see</think>\n4"])
    async with ScriptedLLMServer(script(body)) as srv, client_for(srv) as client:
        [choice] = (await client.chat(MESSAGES)).choices
    assert (choice.text, choice.reasoning) == ("4", "let me see")


async def test_choices_are_ordered_by_index_and_null_content_is_empty() -> None:
    body = completion(["first", "second"])
    body["choices"].reverse()
    body["choices"][0]["message"]["content"] = None
    async with ScriptedLLMServer(script(body)) as srv, client_for(srv) as client:
        res = await client.chat(MESSAGES, n=2)
    assert [c.text for c in res.choices] == ["first", ""]


async def test_429_with_retry_after_is_waited_out() -> None:
    busy = Reply(status=429, body={"error": "slow down"}, headers={"retry-after": "0.3"})
    handler = script(busy, completion(["ok"]))
    async with ScriptedLLMServer(handler) as srv, client_for(srv) as client:
        start = time.monotonic()
        res = await client.chat(MESSAGES)
        elapsed = time.monotonic() - start
    assert res.choices[0].text == "ok"
    assert len(srv.requests) == 2
    assert elapsed >= 0.3


async def test_retry_after_ms_is_honoured() -> None:
    busy = Reply(status=503, headers={"retry-after-ms": "250", "retry-after": "30"})
    handler = script(busy, completion(["ok"]))
    async with ScriptedLLMServer(handler) as srv, client_for(srv) as client:
        start = time.monotonic()
        await client.chat(MESSAGES)
        elapsed = time.monotonic() - start
    assert 0.25 <= elapsed < 5


async def test_500s_are_retried_then_reported() -> None:
    handler = script(Reply(status=500, body="boom"))
    async with ScriptedLLMServer(handler) as srv, client_for(srv) as client:
        with pytest.raises(LLMStatusError, match="HTTP 500") as info:
            await client.chat(MESSAGES)
    assert info.value.status_code == 500
    assert len(srv.requests) == FAST_RETRY.max_attempts


async def test_500_then_success() -> None:
    replies = script(Reply(status=502), Reply(status=500), completion(["fine"]))
    async with ScriptedLLMServer(replies) as srv, client_for(srv) as client:
        res = await client.chat(MESSAGES)
    assert res.choices[0].text == "fine"
    assert res.usage.requests == 1
    assert len(srv.requests) == 3


async def test_400_is_not_retried() -> None:
    bad = Reply(status=400, body={"error": {"message": "max_tokens too large"}})
    async with ScriptedLLMServer(script(bad)) as srv, client_for(srv) as client:
        with pytest.raises(LLMStatusError, match="max_tokens too large") as info:
            await client.chat(MESSAGES)
    assert info.value.status_code == 400
    assert not isinstance(info.value, LLMAuthError)
    assert len(srv.requests) == 1


async def test_auth_error_never_shows_the_key(caplog: pytest.LogCaptureFixture) -> None:
    echo = Reply(status=401, body={"error": f"invalid key {KEY}"})
    async with ScriptedLLMServer(script(echo)) as srv, client_for(srv) as client:
        with pytest.raises(LLMAuthError) as info:
            await client.chat(MESSAGES)
        assert KEY not in repr(client)
    assert isinstance(info.value, PermissionError)
    assert info.value.status_code == 401
    assert KEY not in str(info.value)
    assert "***" in str(info.value)
    assert KEY not in caplog.text


async def test_retry_logs_never_show_the_key(caplog: pytest.LogCaptureFixture) -> None:
    echo = Reply(status=429, body=f"key {KEY} is rate limited")
    caplog.set_level(logging.DEBUG)
    async with ScriptedLLMServer(script(echo)) as srv, client_for(srv) as client:
        with pytest.raises(LLMStatusError) as info:
            await client.chat(MESSAGES)
    assert "retrying" in caplog.text
    assert KEY not in caplog.text
    assert KEY not in str(info.value)


@pytest.mark.parametrize(
    ("reply", "match"),
    [
        (Reply(body="{not json"), "malformed chat completion"),
        (Reply(body={"choices": "many"}), "malformed chat completion"),
        (Reply(body={"object": "chat.completion"}), "malformed chat completion"),
        (Reply(body={"choices": [{"message": {"content": 3}}]}), "malformed chat completion"),
        (Reply(body={"choices": []}), "no choices"),
        (
            Reply(body="<html>login</html>", headers={"content-type": "text/html"}),
            "content-type 'text/html'",
        ),
    ],
)
async def test_malformed_replies_raise_response_errors(reply: Reply, match: str) -> None:
    async with ScriptedLLMServer(script(reply)) as srv, client_for(srv) as client:
        with pytest.raises(LLMResponseError, match=match):
            await client.chat(MESSAGES)
    assert len(srv.requests) == 1  # not retried: the same server would say the same


async def test_slow_reply_times_out() -> None:
    slow = Reply(body=completion(["late"]), delay_s=5.0)
    async with ScriptedLLMServer(script(slow)) as srv, client_for(srv, timeout_s=0.3) as client:
        start = time.monotonic()
        with pytest.raises(LLMTimeoutError, match=r"timeout_s=0\.3") as info:
            await client.chat(MESSAGES)
        elapsed = time.monotonic() - start
    assert isinstance(info.value, TimeoutError)
    assert elapsed < 3.0
    assert len(srv.requests) == 1


async def test_dropped_connection_is_retried() -> None:
    handler = script(Reply(drop=True), completion(["back"]))
    async with ScriptedLLMServer(handler) as srv, client_for(srv) as client:
        res = await client.chat(MESSAGES)
    assert res.choices[0].text == "back"
    assert len(srv.requests) == 2


async def test_dropped_connections_run_out_of_retries() -> None:
    async with ScriptedLLMServer(script(Reply(drop=True))) as srv, client_for(srv) as client:
        with pytest.raises(LLMConnectionError, match="connection to") as info:
            await client.chat(MESSAGES)
    assert isinstance(info.value, ConnectionError)
    assert len(srv.requests) == FAST_RETRY.max_attempts


async def test_truncated_body_is_a_connection_error() -> None:
    cut = Reply(body=completion(["a long answer"]), truncate_at=20)
    async with ScriptedLLMServer(script(cut)) as srv, client_for(srv) as client:
        with pytest.raises(LLMConnectionError):
            await client.chat(MESSAGES)
    assert len(srv.requests) == FAST_RETRY.max_attempts


async def test_no_server_is_a_connection_error() -> None:
    async with ScriptedLLMServer(script(completion(["x"]))) as srv:
        url = srv.base_url
    ep = Endpoint(base_url=url, model="m", timeout_s=5.0)
    async with Client(ep, retry=RetryPolicy(max_attempts=2, base_delay_s=0.01)) as client:
        with pytest.raises(LLMConnectionError, match="ConnectError"):
            await client.chat(MESSAGES)


async def test_capacity_limiter_bounds_requests_in_flight() -> None:
    in_flight = 0
    peak = 0

    async def handler(body: dict[str, Any]) -> dict[str, Any]:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await anyio.sleep(0.05)
        in_flight -= 1
        return completion(["x"])

    async with ScriptedLLMServer(handler) as srv, client_for(srv, max_concurrency=2) as client:
        res = await client.chat(MESSAGES, n=6)
        async with anyio.create_task_group() as tg:
            for _ in range(4):
                tg.start_soon(client.chat, MESSAGES)
    assert len(res.choices) == 6
    assert peak == 2


async def test_a_failing_split_request_raises_one_llm_error() -> None:
    calls = 0

    def handler(body: dict[str, Any]) -> dict[str, Any] | Reply:
        nonlocal calls
        calls += 1
        if calls == 3:
            return Reply(status=400, body="bad")
        return completion(["x"])

    async with ScriptedLLMServer(handler) as srv, client_for(srv) as client:
        with pytest.raises(LLMStatusError, match="HTTP 400"):
            await client.chat(MESSAGES, n=4)


async def test_injected_transport_is_used() -> None:
    seen: list[str] = []

    class Recording(httpx.AsyncHTTPTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            seen.append(str(request.url))
            return await super().handle_async_request(request)

    async with ScriptedLLMServer(script(completion(["via transport"]))) as srv:
        ep = Endpoint(base_url=srv.base_url, model="m")
        async with Client(ep, transport=Recording()) as client:
            res = await client.chat(MESSAGES)
    assert res.choices[0].text == "via transport"
    assert seen == [f"{srv.base_url}/chat/completions"]


async def test_bad_arguments() -> None:
    async with ScriptedLLMServer(script(completion(["x"]))) as srv, client_for(srv) as client:
        with pytest.raises(ValueError, match="n must be >= 1"):
            await client.chat(MESSAGES, n=0)
        with pytest.raises(ValueError, match="messages must not be empty"):
            await client.chat([])
    assert srv.requests == []


def test_every_failure_is_an_llm_error() -> None:
    for cls in (
        LLMAuthError,
        LLMConnectionError,
        LLMResponseError,
        LLMStatusError,
        LLMTimeoutError,
    ):
        assert issubclass(cls, LLMError)


async def test_a_shared_limiter_bounds_two_clients_together() -> None:
    in_flight = 0
    peak = 0

    async def handler(body: dict[str, Any]) -> dict[str, Any]:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await anyio.sleep(0.05)
        in_flight -= 1
        return completion(["x"])

    limiter = anyio.CapacityLimiter(3)
    async with ScriptedLLMServer(handler) as srv:
        ep = Endpoint(base_url=srv.base_url, model="m")
        async with Client(ep, limiter=limiter) as a, Client(ep, limiter=limiter) as b:
            assert a.limiter is b.limiter
            async with anyio.create_task_group() as tg:
                for client in (a, b) * 4:
                    tg.start_soon(client.chat, MESSAGES)
    assert peak == 3
