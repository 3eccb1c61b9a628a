"""What a chat request asks for (:class:`Sampling`) and what comes back (:class:`ChatResult`)."""

from __future__ import annotations

import msgspec

from stepstones.errors import ConfigError
from stepstones.records import Usage

__all__ = ["ChatResult", "Choice", "Sampling"]


class Sampling(msgspec.Struct, frozen=True, kw_only=True):
    """Sampling parameters, passed through to the server unchanged.

    temperature: >= 0. top_p: in (0, 1]. max_tokens: completion tokens per choice, >= 1.
    stop: stop strings (sent only when non-empty). seed: sent when set; when ``n`` samples are
    split over several requests, request ``i`` gets ``seed + i`` so they do not repeat each other.
    reasoning_effort: ``"low"``/``"medium"``/``"high"`` for reasoning models; sent only when set.
    """

    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 2048
    stop: tuple[str, ...] = ()
    seed: int | None = None
    reasoning_effort: str | None = None

    def __post_init__(self) -> None:
        if not self.temperature >= 0:
            raise ConfigError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_tokens < 1:
            raise ConfigError(f"max_tokens must be >= 1, got {self.max_tokens}")


class Choice(msgspec.Struct, frozen=True):
    """One sampled completion.

    text: the answer, with any leading ``<think>...</think>`` section removed.
    reasoning: the server's ``reasoning_content`` (or ``reasoning``), or the text of the removed
        ``<think>`` section; empty when the model gave none.
    finish_reason: ``"stop"``, ``"length"``, ... as the server reported it.
    """

    text: str
    reasoning: str = ""
    finish_reason: str | None = None


class ChatResult(msgspec.Struct, frozen=True):
    """The answer to one :meth:`Client.chat` call: exactly ``n`` choices, in order, and the
    usage summed over every HTTP request it took (``usage.latency_s`` sums their wall times)."""

    choices: tuple[Choice, ...]
    usage: Usage
