"""Check an endpoint before a run starts: is a server there, and does it serve the model?

Inside a run, a failed request is data (a turn with an "llm" rejection) so that one bad reply
never stops a chain. That is right mid-run and wrong at the start: with no server at the URL,
or a misspelt model name, every turn of every chain would be rejected and the run would
"succeed" with nothing in it. One ``GET {base_url}/models`` before the run turns both into one
sentence saying what to do.

What cannot be checked is let through: a server without a ``/models`` route (404/405, or any
other non-success status but a refused key), a reply that is not an OpenAI model list, or an
empty list (a server that accepts any model name). The run itself then says what is wrong.
"""

from __future__ import annotations

import logging

import httpx

from stepstones.errors import ConfigError, LLMAuthError, LLMConnectionError, LLMTimeoutError
from stepstones.llm._endpoint import Endpoint

__all__ = ["check_endpoint"]

log = logging.getLogger("stepstones.llm")

_SHOWN_MODELS = 10


def _where(role: str) -> str:
    if role in ("teacher", "student"):
        return f"--{role}-url, STEPSTONES_{role.upper()}_BASE_URL or STEPSTONES_BASE_URL"
    return "base_url"


def _served(reply: httpx.Response) -> list[str] | None:
    """The model ids of an OpenAI model list, or None when the reply is not one."""
    try:
        data = reply.json()["data"]
        return [str(m["id"]) for m in data]
    except (ValueError, KeyError, TypeError):
        return None


async def check_endpoint(
    endpoint: Endpoint,
    *,
    role: str = "teacher",
    timeout_s: float = 10.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> None:
    """Raise one clear error when no server answers at ``endpoint.base_url``, it refuses the
    API key, or it does not serve ``endpoint.model``; return quietly otherwise, also when the
    model cannot be checked (no ``/models`` route, or an empty model list).

    role: "teacher" or "student", named in the message with the settings that set it.
    timeout_s: deadline of the one ``GET /models`` request.
    transport: an httpx transport to send it through (default: the network).

    Raises LLMConnectionError (nothing answers), LLMTimeoutError (no answer in time),
    LLMAuthError (HTTP 401/403) or ConfigError (the model is not in the server's list).
    """
    url = f"{endpoint.base_url}/models"
    headers = {"authorization": f"Bearer {endpoint.api_key}"} if endpoint.api_key else {}
    try:
        async with httpx.AsyncClient(transport=transport, timeout=timeout_s) as client:
            reply = await client.get(url, headers=headers)
    except httpx.TimeoutException as exc:
        raise LLMTimeoutError(
            f"the {role} server at {endpoint.base_url} did not answer GET /models within "
            f"{timeout_s:g} s; if it is still loading the model, wait and retry, else fix "
            f"{_where(role)}"
        ) from exc
    except httpx.TransportError as exc:
        raise LLMConnectionError(
            f"no server answers at {endpoint.base_url} (the {role}: {type(exc).__name__}: "
            f"{exc}); start an OpenAI-compatible server there (e.g. `vllm serve MODEL "
            f"--port 8000`) or point {_where(role)} at a running one"
        ) from exc
    if reply.status_code in (401, 403):
        raise LLMAuthError(
            f"the {role} server at {endpoint.base_url} refused the API key (HTTP "
            f"{reply.status_code}); set STEPSTONES_{role.upper()}_API_KEY, STEPSTONES_API_KEY "
            "or OPENAI_API_KEY to a key it accepts",
            status_code=reply.status_code,
        )
    if reply.status_code != 200:
        log.info(
            "cannot list the models at %s (HTTP %d); not checking the model name",
            url,
            reply.status_code,
        )
        return
    served = _served(reply)
    if served is None:
        log.info("%s did not answer an OpenAI model list; not checking the model name", url)
        return
    if not served:
        log.info("%s lists no models (any name accepted); not checking the model name", url)
        return
    if endpoint.model not in served:
        shown = ", ".join(repr(m) for m in served[:_SHOWN_MODELS])
        more = " ..." if len(served) > _SHOWN_MODELS else ""
        raise ConfigError(
            f"model {endpoint.model!r} is not served at {endpoint.base_url} (it serves "
            f"{shown}{more}); pass one of those as --{role}-model (or "
            f"STEPSTONES_{role.upper()}_MODEL / STEPSTONES_MODEL)"
        )
