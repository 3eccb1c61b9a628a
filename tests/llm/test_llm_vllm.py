"""The in-process vLLM backend: a real engine on a GPU, and clear errors without vLLM."""

from __future__ import annotations

import importlib.util

import pytest

from stepstones.errors import ConfigError
from stepstones.llm import ChatBackend, Sampling, VLLMBackend
from stepstones.records import Message

pytestmark = pytest.mark.anyio


def test_is_a_chat_backend_and_imports_vllm_lazily() -> None:
    backend = VLLMBackend("some/model", engine_args={"max_model_len": 1024})
    assert isinstance(backend, ChatBackend)
    assert repr(backend) == "VLLMBackend('some/model')"
    with pytest.raises(ConfigError, match="model must be"):
        VLLMBackend("")


async def test_chat_before_start_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="not started"):
        await VLLMBackend("m").chat([Message("user", "hi")])


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed")
async def test_without_vllm_the_error_names_the_extra() -> None:
    with pytest.raises(ConfigError, match=r"stepstones\[vllm\]"):
        async with VLLMBackend("m"):
            pass


@pytest.mark.gpu
@pytest.mark.timeout(1800)
@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vLLM is not installed")
async def test_real_engine_samples_n_choices() -> None:
    engine_args = {"max_model_len": 2048, "gpu_memory_utilization": 0.5, "enforce_eager": True}
    async with VLLMBackend("Qwen/Qwen2.5-0.5B-Instruct", engine_args=engine_args) as backend:
        res = await backend.chat(
            [Message("user", "Write a Python function f(x) returning x squared.")],
            Sampling(temperature=0.8, max_tokens=64, seed=0),
            n=4,
        )
    assert len(res.choices) == 4
    assert res.usage.requests == 1
    assert res.usage.prompt_tokens > 0 and res.usage.completion_tokens > 0
    assert all(c.text for c in res.choices)
