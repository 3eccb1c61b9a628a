"""The scripted server fixture itself: real HTTP/1.1 on loopback, replies exactly as scripted."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest

from stepstones.testing import Reply, ScriptedLLMServer, completion

pytestmark = pytest.mark.anyio


def ok(body: dict[str, Any]) -> dict[str, Any]:
    return completion([f"echo {body['messages'][-1]['content']}"])


async def test_serves_completions_over_keep_alive_connections() -> None:
    async with ScriptedLLMServer(ok) as srv, httpx.AsyncClient() as http:
        assert srv.base_url.startswith("http://127.0.0.1:")
        for i in range(3):
            body = {"model": "m", "messages": [{"role": "user", "content": str(i)}]}
            response = await http.post(f"{srv.base_url}/chat/completions", json=body)
            assert response.status_code == 200
            assert response.headers["content-type"] == "application/json"
            assert response.json()["choices"][0]["message"]["content"] == f"echo {i}"
        models = await http.get(f"{srv.base_url}/models")
        assert models.json() == {"object": "list", "data": []}  # any name is served
        missing = await http.post(f"{srv.base_url}/embeddings", json={})
        assert missing.status_code == 404
    assert [r.body["messages"][0]["content"] for r in srv.requests[:3]] == ["0", "1", "2"]
    assert [r.method for r in srv.requests] == ["POST"] * 3 + ["GET", "POST"]


async def test_models_lists_the_served_names_and_refuses_others_like_vllm() -> None:
    async with ScriptedLLMServer(ok, models=["a/b", "c"]) as srv, httpx.AsyncClient() as http:
        listed = await http.get(f"{srv.base_url}/models")
        assert [m["id"] for m in listed.json()["data"]] == ["a/b", "c"]
        body = {"model": "c", "messages": [{"role": "user", "content": "x"}]}
        served = await http.post(f"{srv.base_url}/chat/completions", json=body)
        assert served.json()["choices"][0]["message"]["content"] == "echo x"
        wrong = await http.post(f"{srv.base_url}/chat/completions", json={**body, "model": "d"})
        assert wrong.status_code == 404
        assert wrong.json()["error"]["message"] == "The model `d` does not exist."
    assert not srv.errors
    with pytest.raises(TypeError, match="not one string"):
        ScriptedLLMServer(ok, models="c")


async def test_status_headers_and_raw_bodies() -> None:
    def handler(body: dict[str, Any]) -> Reply:
        return Reply(status=429, body="busy", headers={"Retry-After": "3", "content-type": "x/y"})

    async with ScriptedLLMServer(handler) as srv, httpx.AsyncClient() as http:
        response = await http.post(f"{srv.base_url}/chat/completions", json={})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert response.headers["content-type"] == "x/y"
    assert response.text == "busy"


async def test_async_handler_and_delay() -> None:
    async def handler(body: dict[str, Any]) -> Reply:
        await anyio.sleep(0.01)
        return Reply(body=completion(["late"]), delay_s=0.2)

    async with ScriptedLLMServer(handler) as srv, httpx.AsyncClient() as http:
        start = anyio.current_time()
        response = await http.post(f"{srv.base_url}/chat/completions", json={})
        assert anyio.current_time() - start >= 0.2
    assert response.json()["choices"][0]["message"]["content"] == "late"


async def test_drop_and_truncate_break_the_connection() -> None:
    replies = iter([Reply(drop=True), Reply(body=completion(["abcdef"]), truncate_at=5)])
    server = ScriptedLLMServer(lambda body: next(replies))
    async with server as srv, httpx.AsyncClient() as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.post(f"{srv.base_url}/chat/completions", json={})
        with pytest.raises(httpx.RemoteProtocolError, match=r"incomplete|closed"):
            await http.post(f"{srv.base_url}/chat/completions", json={})


async def test_handler_errors_are_500s_and_kept() -> None:
    def handler(body: dict[str, Any]) -> dict[str, Any]:
        raise KeyError("oops")

    async with ScriptedLLMServer(handler) as srv, httpx.AsyncClient() as http:
        response = await http.post(f"{srv.base_url}/chat/completions", json={})
        bad = await http.post(f"{srv.base_url}/chat/completions", content=b"{nope")
    assert response.status_code == 500
    assert "oops" in response.text
    assert [type(e) for e in srv.errors] == [KeyError]
    assert bad.status_code == 400


async def test_stops_listening_on_exit() -> None:
    async with ScriptedLLMServer(ok) as srv:
        url = srv.base_url
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"{url}/models")


def test_completion_helper() -> None:
    body = completion(["a b", "c"], reasoning=["r1", "r2"], finish_reason="length")
    assert [c["message"]["reasoning_content"] for c in body["choices"]] == ["r1", "r2"]
    assert [c["finish_reason"] for c in body["choices"]] == ["length", "length"]
    assert body["usage"]["completion_tokens"] == 3
    with pytest.raises(ValueError, match="one entry per text"):
        completion(["a"], reasoning=["x", "y"])
