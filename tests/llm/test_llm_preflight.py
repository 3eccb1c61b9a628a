"""check_endpoint: one GET /models against a real loopback server (or a port where nothing
listens); a clear sentence for no server, a refused key or an unserved model, and no error
where the model cannot be checked."""

from __future__ import annotations

import socket
from typing import Any

import anyio
import httpx
import pytest
from anyio.abc import SocketAttribute

import stepstones.distributed
from stepstones.errors import ConfigError, LLMAuthError, LLMConnectionError, LLMTimeoutError
from stepstones.llm import Endpoint, check_endpoint
from stepstones.testing import ScriptedLLMServer, completion

pytestmark = pytest.mark.anyio


def closed_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v1"


def hi(body: dict[str, Any]) -> dict[str, Any]:
    return completion(["hi"])


def answering(status: int, body: object) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(status, json=body))


async def test_served_model_passes_with_one_request() -> None:
    async with ScriptedLLMServer(hi, models=["other", "scripted"]) as srv:
        await check_endpoint(Endpoint(base_url=srv.base_url, model="scripted"))
    assert [(r.method, r.path) for r in srv.requests] == [("GET", "/v1/models")]


async def test_no_server_is_one_sentence_saying_what_to_do() -> None:
    url = closed_url()
    with pytest.raises(LLMConnectionError) as info:
        await check_endpoint(Endpoint(base_url=url, model="m"), role="student")
    message = str(info.value)
    assert message.startswith(f"no server answers at {url} (the student: ConnectError")
    assert "vllm serve MODEL" in message and "--student-url" in message
    assert "\n" not in message


async def test_wrong_model_names_the_served_ones() -> None:
    async with ScriptedLLMServer(hi, models=["scripted"]) as srv:
        with pytest.raises(ConfigError) as info:
            await check_endpoint(Endpoint(base_url=srv.base_url, model="gpt-oss-120"))
    assert str(info.value) == (
        f"model 'gpt-oss-120' is not served at {srv.base_url} (it serves 'scripted'); pass one "
        "of those as --teacher-model (or STEPSTONES_TEACHER_MODEL / STEPSTONES_MODEL)"
    )


async def test_long_model_lists_are_cut_after_ten() -> None:
    names = [f"m{i}" for i in range(12)]
    async with ScriptedLLMServer(hi, models=names) as srv:
        with pytest.raises(ConfigError, match=r"'m8', 'm9' \.\.\.\); pass one") as info:
            await check_endpoint(Endpoint(base_url=srv.base_url, model="m"), role="student")
    assert "'m10'" not in str(info.value) and "--student-model" in str(info.value)


@pytest.mark.parametrize("status", [401, 403])
async def test_refused_key_is_an_auth_error_without_the_key(status: int) -> None:
    ep = Endpoint(base_url="http://models.example/v1", model="m", api_key="sk-secret")
    with pytest.raises(LLMAuthError, match=rf"refused the API key \(HTTP {status}\)") as info:
        await check_endpoint(ep, transport=answering(status, {"error": "no"}))
    assert info.value.status_code == status
    assert "sk-secret" not in str(info.value)
    assert "STEPSTONES_TEACHER_API_KEY" in str(info.value)


async def test_the_key_is_sent_as_a_bearer_token() -> None:
    seen: list[str | None] = []

    def app(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        return httpx.Response(200, json={"object": "list", "data": [{"id": "m"}]})

    ep = Endpoint(base_url="http://models.example/v1", model="m", api_key="sk-secret")
    await check_endpoint(ep, transport=httpx.MockTransport(app))
    await check_endpoint(Endpoint(base_url="http://models.example/v1", model="m"),
                         transport=httpx.MockTransport(app))  # fmt: skip
    assert seen == ["Bearer sk-secret", None]


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (404, {"error": "no route"}),  # a server without GET /models
        (405, {"error": "method not allowed"}),
        (500, {"error": "busy"}),
        (200, {"object": "list"}),  # not an OpenAI model list
        (200, ["m"]),
        (200, {"object": "list", "data": []}),  # any name accepted
    ],
)
async def test_what_cannot_be_checked_is_let_through(status: int, body: object) -> None:
    ep = Endpoint(base_url="http://models.example/v1", model="m")
    await check_endpoint(ep, transport=answering(status, body))


async def test_the_default_scripted_server_accepts_any_name() -> None:
    async with ScriptedLLMServer(hi) as srv:
        await check_endpoint(Endpoint(base_url=srv.base_url, model="teacher"))


async def test_a_server_that_does_not_answer_times_out_in_one_sentence() -> None:
    # A listener that never accepts: the kernel completes the connection, nothing replies.
    async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
        port = listener.extra(SocketAttribute.local_port)
        url = f"http://127.0.0.1:{port}/v1"
        with pytest.raises(LLMTimeoutError) as info:
            await check_endpoint(Endpoint(base_url=url, model="m"), timeout_s=0.3)
    assert str(info.value).startswith(f"the teacher server at {url} did not answer GET /models")
    assert "within 0.3 s" in str(info.value)


def test_distributed_reexports_the_same_function() -> None:
    assert stepstones.distributed.check_endpoint is check_endpoint
