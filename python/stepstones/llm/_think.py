"""Keep a model's reasoning apart from its answer."""

from __future__ import annotations

__all__ = ["split_think"]

_OPEN = "<think>"
_CLOSE = "</think>"


def split_think(content: str) -> tuple[str, str]:
    """Split a leading ``<think>...</think>`` section off ``content``.

    Returns ``(reasoning, answer)``. Only a section at the very start (after whitespace) counts:
    a ``<think>`` tag inside the answer is the answer's business. An unclosed section (the model
    ran out of tokens while thinking) is all reasoning and no answer. Some chat templates open
    the section in the prompt, so a lone leading ``</think>`` also ends reasoning.
    """
    stripped = content.lstrip()
    if stripped.startswith(_OPEN):
        body = stripped[len(_OPEN) :]
        end = body.find(_CLOSE)
        if end < 0:
            return body.strip(), ""
        return body[:end].strip(), body[end + len(_CLOSE) :].lstrip()
    if _OPEN not in content:
        end = content.find(_CLOSE)
        if end >= 0:
            return content[:end].strip(), content[end + len(_CLOSE) :].lstrip()
    return "", content
