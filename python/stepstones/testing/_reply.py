"""What a scripted server answers: a :class:`Reply`, or a chat-completion body from
:func:`completion`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stepstones.errors import ConfigError

__all__ = ["Reply", "Request", "completion"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """One scripted HTTP answer.

    status: the HTTP status code.
    body: a dict/list (sent as JSON), ``str``/``bytes`` (sent as is), or ``None`` (empty).
    delay_s: seconds to wait before answering (or before dropping), to play slow servers.
    headers: extra response headers; a ``content-type`` here replaces the JSON default.
    drop: close the connection without sending anything (a crashed or cut-off server).
    truncate_at: send the full ``content-length`` but only this many body bytes, then close.
    """

    status: int = 200
    body: Any = None
    delay_s: float = 0.0
    headers: Mapping[str, str] = field(default_factory=dict)
    drop: bool = False
    truncate_at: int | None = None


@dataclass(frozen=True, slots=True)
class Request:
    """A request the scripted server received (header names lower-case)."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: Any


def completion(
    texts: Sequence[str],
    reasoning: Sequence[str] | str | None = None,
    *,
    finish_reason: str = "stop",
    model: str = "scripted",
    prompt_tokens: int = 10,
) -> dict[str, Any]:
    """A chat-completion body with one choice per text.

    reasoning: a ``reasoning_content`` per choice (a sequence as long as ``texts``), one string
        for every choice, or ``None`` for none. ``usage.completion_tokens`` counts words.
    """
    if isinstance(reasoning, str):
        thoughts: Sequence[str | None] = [reasoning] * len(texts)
    elif reasoning is None:
        thoughts = [None] * len(texts)
    else:
        if len(reasoning) != len(texts):
            raise ConfigError(
                f"reasoning needs one entry per text: {len(reasoning)} for {len(texts)} texts"
            )
        thoughts = reasoning
    choices = []
    for i, (text, thought) in enumerate(zip(texts, thoughts, strict=True)):
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if thought is not None:
            message["reasoning_content"] = thought
        choices.append({"index": i, "message": message, "finish_reason": finish_reason})
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": sum(len(t.split()) for t in texts),
            "total_tokens": prompt_tokens + sum(len(t.split()) for t in texts),
        },
    }
