"""The in-process vLLM backend: its request and output mapping on CPU against a stand-in engine
shaped like vLLM's (tests/llm/_vllm_standin.py), a real engine on a GPU, and clear errors
without vLLM."""

from __future__ import annotations

import importlib.util
import sys

import pytest
from _vllm_standin import Engine, RequestOutputKind, Sample, vllm_module

from stepstones.errors import ConfigError, LLMError
from stepstones.llm import ChatBackend, Sampling, VLLMBackend
from stepstones.records import Message

pytestmark = pytest.mark.anyio

CHAT = [Message("system", "You write Python."), Message("user", "Square x.")]


@pytest.fixture
def standin(monkeypatch: pytest.MonkeyPatch) -> Engine:
    """The stand-in engine, installed as the ``vllm`` module VLLMBackend imports."""
    engine = Engine(script=[])
    monkeypatch.setitem(sys.modules, "vllm", vllm_module(engine))
    return engine


async def test_request_mapping(standin: Engine) -> None:
    standin.script = [[Sample("a"), Sample("b")], [Sample("c")]]
    args = {"max_model_len": 1024, "tensor_parallel_size": 2}
    async with VLLMBackend("org/model", engine_args=args) as backend:
        await backend.chat(CHAT, Sampling(temperature=0.7, top_p=0.9, max_tokens=64), n=2)
        await backend.chat(
            CHAT, Sampling(stop=("```",), seed=7, reasoning_effort="low", max_tokens=8), n=1
        )
    assert sys.modules["vllm"].engine_args == [{"model": "org/model", **args}]
    (prompt1, params1, id1), (prompt2, params2, id2) = standin.requests
    assert (
        prompt1
        == prompt2
        == (
            "<|im_start|>system\nYou write Python.<|im_end|>\n"
            "<|im_start|>user\nSquare x.<|im_end|>\n<|im_start|>assistant\n"
        )
    )
    assert id1 != id2
    assert (params1.n, params1.temperature, params1.top_p, params1.max_tokens) == (2, 0.7, 0.9, 64)
    assert (params1.stop, params1.seed) == (None, None)  # empty stop list: not sent
    assert params1.output_kind is RequestOutputKind.FINAL_ONLY
    assert (params2.n, params2.stop, params2.seed, params2.max_tokens) == (1, ["```"], 7, 8)
    calls = standin.tokenizer.calls
    assert calls[0]["conversation"] == [
        {"role": "system", "content": "You write Python."},
        {"role": "user", "content": "Square x."},
    ]
    assert calls[0]["tokenize"] is False and calls[0]["add_generation_prompt"] is True
    assert "reasoning_effort" not in calls[0]  # only when set
    assert calls[1]["reasoning_effort"] == "low"
    assert standin.shut_down


async def test_output_mapping(standin: Engine) -> None:
    standin.script = [
        [
            Sample("<think>square it</think>def f(x):\n    return x * x"),
            Sample("def f(x): return x ** 2 and more words", finish_reason="length"),
            Sample("<think>never closed"),
        ]
    ]
    async with VLLMBackend("m") as backend:
        res = await backend.chat(CHAT, Sampling(), n=3)
    assert [(c.reasoning, c.text, c.finish_reason) for c in res.choices] == [
        ("square it", "def f(x):\n    return x * x", "stop"),
        ("", "def f(x): return x ** 2 and more words", "length"),
        ("never closed", "", "stop"),
    ]
    prompt = standin.requests[0][0]
    assert res.usage.prompt_tokens == len(prompt.split())  # the stand-in's token count
    # The stand-in's token ids are one per word of each sample's text.
    assert res.usage.completion_tokens == sum(len(s.text.split()) for s in standin.script[0])
    assert res.usage.requests == 1
    assert res.usage.latency_s >= 0


async def test_streamed_samples_are_merged_by_index(standin: Engine) -> None:
    """vLLM's v1 engine, streaming, yields only the samples that advanced: the last yield of an
    n=3 request holds one sample. Every sample is kept, in index order."""
    standin.script = [[Sample("zero"), Sample("one"), Sample("two")]]
    standin.honour_final_only = False
    standin.finish_order = [2, 0, 1]
    async with VLLMBackend("m") as backend:
        res = await backend.chat(CHAT, n=3)
    assert [c.text for c in res.choices] == ["zero", "one", "two"]
    assert res.usage.completion_tokens == 3


async def test_missing_samples_and_engine_failures_are_llm_errors(standin: Engine) -> None:
    standin.script = [[Sample("only one")]]
    async with VLLMBackend("m") as backend:
        with pytest.raises(LLMError, match=r"samples \[0\] for n=2; expected indices 0..1"):
            await backend.chat(CHAT, n=2)
        standin.fail_with = RuntimeError("CUDA out of memory")
        with pytest.raises(LLMError, match="vLLM failed on m: RuntimeError: CUDA out of memory"):
            await backend.chat(CHAT, n=1)


async def test_bad_arguments_are_config_errors(standin: Engine) -> None:
    async with VLLMBackend("m") as backend:
        with pytest.raises(ConfigError, match="n must be >= 1, got 0"):
            await backend.chat(CHAT, n=0)
        with pytest.raises(ConfigError, match="messages must not be empty"):
            await backend.chat([], n=1)
    assert standin.requests == []


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
