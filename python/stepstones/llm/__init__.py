"""The LLM client: async sampling from any OpenAI-compatible chat-completions server.

``async with Client(Endpoint(...)) as client: await client.chat(messages, Sampling(), n=32)``.
With no server configured, :func:`local_endpoint` starts the embedded default model (llama.cpp
serving Qwen2.5-Coder-0.5B-Instruct) on loopback. Everything that samples implements
:class:`ChatBackend`. :func:`check_endpoint` fails fast, in one sentence, before a run
when no server answers at an endpoint, it refuses the key, or it does not serve the model.
"""

from __future__ import annotations

from stepstones.llm._backend import ChatBackend
from stepstones.llm._client import Client
from stepstones.llm._endpoint import Endpoint, Role, load_config, resolve_endpoint
from stepstones.llm._local import LOCAL_MODEL_ALIAS, local_available, local_endpoint
from stepstones.llm._model import QWEN_CODER_05B, ModelSpec, fetch_model
from stepstones.llm._preflight import check_endpoint
from stepstones.llm._retry import RetryPolicy, is_retryable_status, retry_after_s, retry_delay_s
from stepstones.llm._think import split_think
from stepstones.llm._types import ChatResult, Choice, Sampling
from stepstones.llm._vllm import VLLMBackend

__all__ = [
    "LOCAL_MODEL_ALIAS",
    "QWEN_CODER_05B",
    "ChatBackend",
    "ChatResult",
    "Choice",
    "Client",
    "Endpoint",
    "ModelSpec",
    "RetryPolicy",
    "Role",
    "Sampling",
    "VLLMBackend",
    "check_endpoint",
    "fetch_model",
    "is_retryable_status",
    "load_config",
    "local_available",
    "local_endpoint",
    "resolve_endpoint",
    "retry_after_s",
    "retry_delay_s",
    "split_think",
]
