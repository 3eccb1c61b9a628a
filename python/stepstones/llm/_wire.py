"""The chat-completions wire format: request encoding and a decoder for only the fields read."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from stepstones.llm._types import Sampling
from stepstones.records import Message

__all__ = ["WireCompletion", "decode_completion", "encode_request"]


class WireMessage(msgspec.Struct, frozen=True):
    content: str | None = None
    reasoning_content: str | None = None  # vLLM/SGLang/DeepSeek reasoning parsers
    reasoning: str | None = None  # newer vLLM and some hosted APIs


class WireChoice(msgspec.Struct, frozen=True):
    message: WireMessage
    index: int = 0
    finish_reason: str | None = None


class WireUsage(msgspec.Struct, frozen=True):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class WireCompletion(msgspec.Struct, frozen=True):
    choices: list[WireChoice]
    usage: WireUsage | None = None


_decoder = msgspec.json.Decoder(WireCompletion)
_encoder = msgspec.json.Encoder()


def decode_completion(body: bytes) -> WireCompletion:
    """Decode a chat-completion body; raises :class:`msgspec.DecodeError` when malformed."""
    return _decoder.decode(body)


def encode_request(
    model: str, messages: Sequence[Message], sampling: Sampling, n: int, seed: int | None
) -> bytes:
    """The JSON body of one chat-completions request asking for ``n`` choices."""
    body: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "max_tokens": sampling.max_tokens,
        "n": n,
    }
    if sampling.stop:
        body["stop"] = list(sampling.stop)
    if seed is not None:
        body["seed"] = seed
    if sampling.reasoning_effort is not None:
        body["reasoning_effort"] = sampling.reasoning_effort
    return _encoder.encode(body)
