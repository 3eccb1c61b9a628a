"""Where a chat-completions server lives: base URL, model, key, concurrency and timeout.

An :class:`Endpoint` comes from arguments, from the environment (:meth:`Endpoint.from_env`) or
from a TOML config file (:func:`load_config`). The API key is kept out of ``repr`` (and so out of
logs, tracebacks and error messages); records never hold an Endpoint.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from stepstones.errors import ConfigError

__all__ = ["Endpoint", "Role", "load_config", "resolve_endpoint"]

Role = Literal["teacher", "student"]
_ROLES: tuple[str, ...] = ("teacher", "student")


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    """One OpenAI-compatible chat-completions server and the model to ask.

    base_url: the API root including ``/v1`` (``http://127.0.0.1:8000/v1``); the client posts to
        ``{base_url}/chat/completions``.
    model: the model name sent in every request.
    api_key: sent as ``Authorization: Bearer``; never shown by ``repr``.
    max_concurrency: requests in flight at once against this endpoint (one capacity limiter).
    timeout_s: deadline of one HTTP attempt, from sending to the last byte of the reply.
    """

    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    max_concurrency: int = 64
    timeout_s: float = 120.0

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"base_url must start with http:// or https://, got {self.base_url!r}: "
                "pass the API root, e.g. http://127.0.0.1:8000/v1"
            )
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))
        if not self.model:
            raise ConfigError("model must be a non-empty model name, got ''")
        if self.max_concurrency < 1:
            raise ConfigError(f"max_concurrency must be >= 1, got {self.max_concurrency}")
        if not self.timeout_s > 0:
            raise ConfigError(f"timeout_s must be > 0 seconds, got {self.timeout_s}")

    @property
    def chat_url(self) -> str:
        """The full URL of the chat-completions route."""
        return f"{self.base_url}/chat/completions"

    @classmethod
    def from_env(cls, role: str = "teacher", env: Mapping[str, str] | None = None) -> Endpoint:
        """Build the endpoint of ``role`` from environment variables.

        Looked up in order: ``STEPSTONES_{ROLE}_BASE_URL`` / ``_MODEL`` / ``_API_KEY`` /
        ``_MAX_CONCURRENCY`` / ``_TIMEOUT_S``, then the same names without the role
        (``STEPSTONES_BASE_URL`` ...), then ``OPENAI_BASE_URL`` / ``OPENAI_MODEL`` /
        ``OPENAI_API_KEY``. Raises :class:`ConfigError` when no base URL or model is set.
        """
        found = _from_env(role, os.environ if env is None else env)
        if found is None:
            up = role.upper()
            raise ConfigError(
                f"no {role} endpoint configured: set STEPSTONES_{up}_BASE_URL and "
                f"STEPSTONES_{up}_MODEL (or STEPSTONES_BASE_URL/STEPSTONES_MODEL, or "
                "OPENAI_BASE_URL/OPENAI_MODEL)"
            )
        return found


def _lookup(env: Mapping[str, str], role: str, suffix: str) -> str | None:
    names = [f"STEPSTONES_{role.upper()}_{suffix}", f"STEPSTONES_{suffix}"]
    if suffix in ("BASE_URL", "MODEL", "API_KEY"):
        names.append(f"OPENAI_{suffix}")
    for name in names:
        value = env.get(name)
        if value:
            return value
    return None


def _number(text: str | None, name: str, kind: type[int] | type[float]) -> Any:
    if text is None:
        return None
    try:
        return kind(text)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a {kind.__name__}, got {text!r}") from exc


def _from_env(role: str, env: Mapping[str, str]) -> Endpoint | None:
    base_url = _lookup(env, role, "BASE_URL")
    if base_url is None:
        return None
    model = _lookup(env, role, "MODEL")
    if model is None:
        raise ConfigError(
            f"{role} base URL is set but no model: set STEPSTONES_{role.upper()}_MODEL "
            "(or STEPSTONES_MODEL / OPENAI_MODEL)"
        )
    kwargs: dict[str, Any] = {}
    conc = _number(_lookup(env, role, "MAX_CONCURRENCY"), "MAX_CONCURRENCY", int)
    if conc is not None:
        kwargs["max_concurrency"] = conc
    timeout = _number(_lookup(env, role, "TIMEOUT_S"), "TIMEOUT_S", float)
    if timeout is not None:
        kwargs["timeout_s"] = timeout
    return Endpoint(base_url=base_url, model=model, api_key=_lookup(env, role, "API_KEY"), **kwargs)


_SECTION_KEYS = frozenset({"base_url", "model", "api_key_env", "max_concurrency", "timeout_s"})


def _section(name: str, table: Any, env: Mapping[str, str], path: Path) -> Endpoint:
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [{name}] must be a table, got {type(table).__name__}")
    unknown = sorted(set(table) - _SECTION_KEYS)
    if unknown:
        raise ConfigError(
            f"{path}: [{name}] has unknown keys {unknown}; allowed: {sorted(_SECTION_KEYS)} "
            "(keys go in environment variables named by api_key_env, never in the file)"
        )
    for key in ("base_url", "model"):
        if not isinstance(table.get(key), str):
            raise ConfigError(f"{path}: [{name}] needs a string {key}")
    api_key: str | None = None
    key_env = table.get("api_key_env")
    if key_env is not None:
        if not isinstance(key_env, str):
            raise ConfigError(f"{path}: [{name}] api_key_env must be a variable name")
        api_key = env.get(key_env)
        if not api_key:
            raise ConfigError(
                f"{path}: [{name}] reads its key from ${key_env}, which is not set: export it"
            )
    kwargs: dict[str, Any] = {}
    for key, kind in (("max_concurrency", int), ("timeout_s", (int, float))):
        if key in table:
            value = table[key]
            if isinstance(value, bool) or not isinstance(value, kind):
                raise ConfigError(f"{path}: [{name}] {key} must be a number, got {value!r}")
            kwargs[key] = value
    return Endpoint(base_url=table["base_url"], model=table["model"], api_key=api_key, **kwargs)


def load_config(
    path: str | os.PathLike[str], env: Mapping[str, str] | None = None
) -> dict[str, Endpoint]:
    """Read endpoints from a TOML file with ``[teacher]`` and/or ``[student]`` tables.

    Each table has ``base_url`` and ``model`` and optionally ``api_key_env`` (the name of the
    environment variable holding the key; keys are never written in the file),
    ``max_concurrency`` and ``timeout_s``. Returns ``{"teacher": Endpoint, ...}`` for the
    tables present.
    """
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read endpoint config {file}: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"endpoint config {file} is not valid TOML: {exc}") from exc
    unknown = sorted(set(data) - set(_ROLES))
    if unknown:
        raise ConfigError(f"{file}: unknown sections {unknown}; use [teacher] and [student]")
    values = os.environ if env is None else env
    return {name: _section(name, data[name], values, file) for name in _ROLES if name in data}


def resolve_endpoint(
    role: str,
    config: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> Endpoint | None:
    """The endpoint for ``role``: the config file's table if given and present, else the
    environment; ``None`` when neither configures one (callers then use the embedded model)."""
    if config is not None:
        found = load_config(config, env).get(role)
        if found is not None:
            return found
    return _from_env(role, os.environ if env is None else env)
