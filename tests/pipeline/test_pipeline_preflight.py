"""open_backends checks the explicit endpoints (one GET /models each) before any client is
made; the embedded model and ChatBackend objects are not checked; a server that cannot list
its models is let through."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import SocketAttribute, SocketStream
from anyio.streams.buffered import BufferedByteReceiveStream

from stepstones.errors import ConfigError, LLMConnectionError
from stepstones.llm import Client, Endpoint
from stepstones.pipeline import open_backends
from stepstones.testing import ScriptedLLMServer, completion

pytestmark = pytest.mark.anyio

ENV_NAMES = ("BASE_URL", "MODEL", "API_KEY", "MAX_CONCURRENCY", "TIMEOUT_S")


@pytest.fixture(autouse=True)
def no_endpoint_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for prefix in ("STEPSTONES_TEACHER_", "STEPSTONES_STUDENT_", "STEPSTONES_", "OPENAI_"):
        for name in ENV_NAMES:
            monkeypatch.delenv(prefix + name, raising=False)


def hi(body: dict[str, Any]) -> dict[str, Any]:
    return completion(["hi"])


def closed_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v1"


def paths(srv: ScriptedLLMServer) -> list[str]:
    return [r.path for r in srv.requests]


async def test_teacher_and_a_distinct_student_are_each_checked_once() -> None:
    async with ScriptedLLMServer(hi, models=["t", "s"]) as srv:
        teacher = Endpoint(base_url=srv.base_url, model="t")
        student = Endpoint(base_url=srv.base_url, model="s")
        async with open_backends(teacher, student) as backends:
            assert paths(srv) == ["/v1/models", "/v1/models"]
            assert backends.teacher is not backends.student and not backends.local
        async with open_backends(teacher, Endpoint(base_url=srv.base_url, model="t")):
            pass  # the same endpoint twice: one check
        async with open_backends(None, student):
            pass  # the student alone plays both roles: one check
    assert paths(srv) == ["/v1/models"] * 4


async def test_a_student_the_server_does_not_serve_is_named_as_the_student() -> None:
    async with ScriptedLLMServer(hi, models=["t"]) as srv:
        teacher = Endpoint(base_url=srv.base_url, model="t")
        student = Endpoint(base_url=srv.base_url, model="s-typo")
        with pytest.raises(ConfigError) as info:
            async with open_backends(teacher, student):
                pytest.fail("the backends opened")
    assert str(info.value).startswith(f"model 's-typo' is not served at {srv.base_url}")
    assert "--student-model" in str(info.value)
    assert paths(srv) == ["/v1/models", "/v1/models"]  # no chat request


async def test_chat_backends_are_not_checked() -> None:
    async with (
        ScriptedLLMServer(hi, models=["s"]) as srv,
        Client(Endpoint(base_url=closed_url(), model="nobody")) as unchecked,
    ):
        student = Endpoint(base_url=srv.base_url, model="s")
        async with open_backends(unchecked, student) as backends:
            assert backends.teacher is unchecked
    assert paths(srv) == ["/v1/models"]


async def test_endpoints_from_the_environment_are_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = closed_url()
    monkeypatch.setenv("STEPSTONES_BASE_URL", url)
    monkeypatch.setenv("STEPSTONES_MODEL", "m")
    with pytest.raises(LLMConnectionError, match=f"^no server answers at {url} "):
        async with open_backends():
            pytest.fail("the backends opened")


async def test_endpoints_from_a_file_are_checked(tmp_path: Path) -> None:
    async with ScriptedLLMServer(hi, models=["served"]) as srv:
        path = tmp_path / "endpoints.toml"
        path.write_text(f'[teacher]\nbase_url = "{srv.base_url}"\nmodel = "typo"\n')
        with pytest.raises(ConfigError, match=r"^model 'typo' is not served at .*'served'"):
            async with open_backends(endpoints_file=path):
                pytest.fail("the backends opened")


async def test_a_server_without_a_model_list_is_let_through() -> None:
    """A real loopback server that answers every request 405 (no GET /models route)."""
    seen: list[bytes] = []

    async def answer(stream: SocketStream) -> None:
        async with stream:
            head = await BufferedByteReceiveStream(stream).receive_until(b"\r\n\r\n", 65536)
            seen.append(head.split(b"\r\n", 1)[0])
            await stream.send(
                b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            )

    async with (
        await anyio.create_tcp_listener(local_host="127.0.0.1") as listener,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(listener.serve, answer)
        port = listener.extra(SocketAttribute.local_port)
        endpoint = Endpoint(base_url=f"http://127.0.0.1:{port}/v1", model="m")
        async with open_backends(endpoint) as backends:
            assert backends.teacher_name == f"m @ {endpoint.base_url}"
        tg.cancel_scope.cancel()
    assert seen == [b"GET /v1/models HTTP/1.1"]
