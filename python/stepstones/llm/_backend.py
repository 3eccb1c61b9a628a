"""The one interface the pipeline samples through, whatever serves the model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from stepstones.llm._types import ChatResult, Sampling
from stepstones.records import Message

__all__ = ["ChatBackend"]


@runtime_checkable
class ChatBackend(Protocol):
    """Anything that turns chat messages into ``n`` sampled completions.

    :class:`~stepstones.llm.Client` (any OpenAI-compatible server) and
    :class:`~stepstones.llm.VLLMBackend` (an in-process vLLM engine) implement it. Failures
    raise :class:`~stepstones.errors.LLMError` subclasses; a result always has exactly ``n``
    choices.
    """

    async def chat(
        self, messages: Sequence[Message], sampling: Sampling = ..., n: int = 1
    ) -> ChatResult:
        """Sample ``n`` completions of ``messages`` with ``sampling``."""
        ...
