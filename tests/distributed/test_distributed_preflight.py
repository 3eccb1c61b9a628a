"""check_endpoint against a real loopback server (the scripted fixture set to list one model,
"scripted") and against a port where nothing listens."""

from __future__ import annotations

import socket

import httpx
import pytest

from stepstones.distributed import check_endpoint
from stepstones.errors import ConfigError, LLMAuthError, LLMConnectionError
from stepstones.llm import Endpoint
from stepstones.testing import ScriptedLLMServer, completion


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.anyio
async def test_served_model_passes() -> None:
    async with ScriptedLLMServer(lambda body: completion(["hi"]), models=["scripted"]) as srv:
        await check_endpoint(Endpoint(base_url=srv.base_url, model="scripted"))
        assert [r.path for r in srv.requests] == ["/v1/models"]


@pytest.mark.anyio
async def test_no_server_is_one_sentence_saying_what_to_do() -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    with pytest.raises(LLMConnectionError) as info:
        await check_endpoint(Endpoint(base_url=url, model="m"), role="student")
    message = str(info.value)
    assert message.startswith(f"no server answers at {url} (the student: ConnectError")
    assert "vllm serve MODEL" in message and "--student-url" in message
    assert "\n" not in message


@pytest.mark.anyio
async def test_wrong_model_names_the_served_ones() -> None:
    async with ScriptedLLMServer(lambda body: completion(["hi"]), models=["scripted"]) as srv:
        with pytest.raises(ConfigError) as info:
            await check_endpoint(Endpoint(base_url=srv.base_url, model="gpt-oss-120"))
    assert str(info.value) == (
        f"model 'gpt-oss-120' is not served at {srv.base_url} (it serves 'scripted'); pass one "
        "of those as --teacher-model (or STEPSTONES_TEACHER_MODEL / STEPSTONES_MODEL)"
    )


@pytest.mark.anyio
async def test_refused_key_and_unlisted_models() -> None:
    def app(status: int, body: object) -> httpx.MockTransport:
        return httpx.MockTransport(lambda request: httpx.Response(status, json=body))

    ep = Endpoint(base_url="http://models.example/v1", model="m", api_key="sk-secret")
    with pytest.raises(LLMAuthError, match=r"refused the API key \(HTTP 401\)") as info:
        await check_endpoint(ep, transport=app(401, {"error": "no"}))
    assert "sk-secret" not in str(info.value)
    # No model list (404) or not an OpenAI list: nothing to check against, no error.
    await check_endpoint(ep, transport=app(404, {"error": "no route"}))
    await check_endpoint(ep, transport=app(200, {"object": "list"}))
