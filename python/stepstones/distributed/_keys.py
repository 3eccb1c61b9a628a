"""API keys of the actors' endpoints: sent by the name of their variable, read on each node.

Whatever the driver gives an actor when it starts is pickled into Ray's object store: the
:class:`~stepstones.distributed.WorkerSpec`, and Ray's ``runtime_env`` as well (env_vars
included), so neither is a place for a secret. The spec therefore carries the *name* of the
environment variable that holds an endpoint's key, and the actor reads the key from its own
node's environment (the one ``ray start`` ran in): export the same variable on every node.

On the driver, :func:`key_env_of` finds that name for an endpoint whose key came from the
environment: the ``api_key_env`` of its table in the endpoint config file, else the variables
:meth:`stepstones.llm.Endpoint.from_env` reads. Found only when that variable holds exactly the
endpoint's key, so a key given literally is never mistaken for another one.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import tomllib
from collections.abc import Mapping
from pathlib import Path

from stepstones.errors import ConfigError
from stepstones.llm import Endpoint

__all__ = ["check_key_env", "key_env_of", "with_key_from"]


_ROLES = ("teacher", "student")


def _env_names(role: str) -> list[str]:
    """The variables Endpoint.from_env reads a key from, in its order."""
    return [f"STEPSTONES_{role.upper()}_API_KEY", "STEPSTONES_API_KEY", "OPENAI_API_KEY"]


def _file_name(role: str, endpoints_file: str | os.PathLike[str]) -> str | None:
    """The ``api_key_env`` of ``[role]`` in an endpoint config file (already read and checked
    by :func:`stepstones.llm.load_config`), if it names one."""
    try:
        table = tomllib.loads(Path(endpoints_file).read_text(encoding="utf-8")).get(role)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    name = table.get("api_key_env") if isinstance(table, dict) else None
    return name if isinstance(name, str) else None


def key_env_of(
    endpoint: Endpoint,
    role: str,
    *,
    endpoints_file: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> str | None:
    """The name of the variable of ``env`` (default: this process's environment) that holds
    ``endpoint``'s key; None when it has no key or no such variable holds exactly that key.

    ``role``'s names are tried first, then the other role's (an endpoint configured for one
    role serves both when the other has none).
    """
    if endpoint.api_key is None:
        return None
    values = os.environ if env is None else env
    roles = sorted(_ROLES, key=lambda r: r != role)
    names = [] if endpoints_file is None else [_file_name(r, endpoints_file) for r in roles]
    names += [name for r in roles for name in _env_names(r)]
    return next((n for n in names if n is not None and values.get(n) == endpoint.api_key), None)


def check_key_env(name: str | None, role: str) -> None:
    """ConfigError unless ``name`` is None or could name an environment variable."""
    if name is not None and (not name or "=" in name or "\0" in name):
        raise ConfigError(
            f"{role}_key_env must name an environment variable (e.g. OPENAI_API_KEY), got {name!r}"
        )


def with_key_from(
    endpoint: Endpoint, role: str, name: str, env: Mapping[str, str] | None = None
) -> Endpoint:
    """``endpoint`` with its key read from variable ``name`` of ``env`` (default: this
    process's environment, i.e. the node's); ConfigError naming the variable (never a key)
    when it is unset or empty."""
    value = (os.environ if env is None else env).get(name)
    if not value:
        raise ConfigError(
            f"the {role} endpoint's API key is read from ${name} on each Ray node, but it is "
            f"not set on node {socket.gethostname()!r}: export {name} in the environment "
            "`ray start` runs in on every node (keys are never sent to actors)"
        )
    return dataclasses.replace(endpoint, api_key=value)
