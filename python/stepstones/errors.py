"""The one exception tree of stepstones.

Raised only when *the machinery* failed. What untrusted code does (wrong answers, timeouts,
memory kills, denied syscalls) and what a teacher writes (unparseable replies, invalid
problems) are data — :class:`stepstones.sandbox.Outcome`, :class:`stepstones.records.Rejection`,
:class:`stepstones.records.Grade` — never exceptions.

::

    StepstonesError
    ├── ConfigError(ValueError)                 bad argument, config file or environment variable
    ├── RecordError(ValueError)                 a stored record cannot be decoded
    │   └── RecordVersionError                  written by a newer, unknown schema version
    ├── SandboxError(RuntimeError)              the sandbox machinery itself failed
    │   ├── IsolationUnavailableError           a required isolation layer cannot be applied here
    │   └── SandboxClosedError                  the sandbox was used after close()
    ├── SeedError(ValueError)                   a seed source is empty, missing or unreadable
    ├── GradingError(RuntimeError)              a grader broke its contract (one grade per answer)
    ├── LLMError                                talking to a chat-completions server failed
    │   ├── LLMConnectionError(ConnectionError) no server at the URL, connection dropped
    │   ├── LLMTimeoutError(TimeoutError)       the request outlived its explicit timeout
    │   ├── LLMStatusError                      a non-retryable (or retried-out) HTTP status
    │   │   └── LLMAuthError(PermissionError)   401/403: wrong or missing key
    │   └── LLMResponseError(ValueError)        malformed JSON, wrong content type, no choices
    ├── ModelFetchError(OSError)                the embedded model could not be fetched or verified
    ├── StoreError(OSError)                     the chain store cannot be read or written
    ├── ClusterError(RuntimeError)              a Ray cluster or its actors failed beyond recovery
    ├── ExportError(ValueError)                 an export or curriculum cannot be written as asked
    ├── RequestError(ValueError)                a reward-server request cannot be served as sent
    │   ├── LabelError                          a reward request's label is not a problem record
    │   └── RunCodeError                        a /run_code request asks for what is not supported
    └── ServeError(RuntimeError)                the reward server itself failed (e.g. did not start)

Lower-level errors (httpx, OSError, msgspec) are translated at one choke point per subsystem with
``raise ... from exc``. Messages name the condition, the value and the fix; API keys never appear.
"""

from __future__ import annotations

__all__ = [
    "ClusterError",
    "ConfigError",
    "ExportError",
    "GradingError",
    "IsolationUnavailableError",
    "LLMAuthError",
    "LLMConnectionError",
    "LLMError",
    "LLMResponseError",
    "LLMStatusError",
    "LLMTimeoutError",
    "LabelError",
    "ModelFetchError",
    "RecordError",
    "RecordVersionError",
    "RequestError",
    "RunCodeError",
    "SandboxClosedError",
    "SandboxError",
    "SeedError",
    "ServeError",
    "StepstonesError",
    "StoreError",
]


class StepstonesError(Exception):
    """Base of every exception stepstones raises on purpose."""


class ConfigError(StepstonesError, ValueError):
    """A bad argument, config file entry or environment variable."""


class RecordError(StepstonesError, ValueError):
    """A stored record cannot be decoded."""


class RecordVersionError(RecordError):
    """A record was written by a newer schema version than this stepstones knows."""


class SandboxError(StepstonesError, RuntimeError):
    """The sandbox machinery itself failed (not the code it ran)."""


class IsolationUnavailableError(SandboxError):
    """A required isolation layer cannot be applied on this kernel or as this user."""


class SandboxClosedError(SandboxError):
    """The sandbox was used after it was closed."""


class SeedError(StepstonesError, ValueError):
    """A seed source is empty, missing or unreadable."""


class GradingError(StepstonesError, RuntimeError):
    """A grader broke its contract: it must return exactly one grade per answer."""


class LLMError(StepstonesError):
    """Talking to an OpenAI-compatible chat-completions server failed."""


class LLMConnectionError(LLMError, ConnectionError):
    """No server answered at the URL, or the connection dropped mid-request."""


class LLMTimeoutError(LLMError, TimeoutError):
    """A request outlived its explicit timeout."""


class LLMStatusError(LLMError):
    """The server answered with an HTTP status that is not retried (or retries ran out)."""

    def __init__(self, message: str, *, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


class LLMAuthError(LLMStatusError, PermissionError):
    """401/403: the API key is wrong or missing."""


class LLMResponseError(LLMError, ValueError):
    """The server's reply is not a usable chat completion (bad JSON, no choices, wrong type)."""


class ModelFetchError(StepstonesError, OSError):
    """The embedded default model could not be fetched, reassembled or verified."""


class StoreError(StepstonesError, OSError):
    """The chain store cannot be read or written."""


class ClusterError(StepstonesError, RuntimeError):
    """A Ray cluster could not be reached, or its actors kept failing past the restart budget."""


class ExportError(StepstonesError, ValueError):
    """An export or curriculum cannot be written as asked."""


class RequestError(StepstonesError, ValueError):
    """A request to the reward server cannot be served as sent (answered 4xx or reward 0)."""


class LabelError(RequestError):
    """A reward request's label cannot be read as a stepstones problem record."""


class RunCodeError(RequestError):
    """A SandboxFusion ``/run_code`` request asks for something stepstones does not support."""


class ServeError(StepstonesError, RuntimeError):
    """The reward server itself failed, e.g. it did not start listening."""
