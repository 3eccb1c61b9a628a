"""Ray, imported lazily: ``import stepstones`` never needs it, and a missing install or an
unreachable cluster is one clear sentence, not a traceback."""

from __future__ import annotations

import importlib
import logging
import socket
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

from stepstones.errors import ClusterError, ConfigError

__all__ = ["LOCAL", "connect", "require_ray"]

log = logging.getLogger("stepstones.distributed")

#: ``--ray local``: start a private single-node cluster in this process (tests, laptops).
LOCAL = "local"

_INSTALL = "install the Ray extra: pip install 'stepstones[ray]'"


def require_ray() -> ModuleType:
    """The ``ray`` module, or ConfigError saying how to install it."""
    try:
        return importlib.import_module("ray")
    except ImportError as exc:
        raise ConfigError(f"Ray is not installed ({exc}); {_INSTALL}") from exc


def connect(address: str | None, *, num_cpus: int | None = None) -> bool:
    """Join the cluster at ``address`` ("auto", "ray://host:10001", "host:6379") or, with
    ``None`` or ``"local"``, start a private local one (``num_cpus`` CPUs, no dashboard).

    Returns True when this call started Ray (the caller then owns ``ray.shutdown()``); a
    process already connected is left as it is. Raises ClusterError when no cluster answers.
    """
    ray = require_ray()
    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": True,
        "configure_logging": False,
    }
    if address is None or address == LOCAL:
        # "local": a new private cluster even when RAY_ADDRESS or a running one would be found.
        kwargs.update(address="local", num_cpus=num_cpus)
    else:
        _preflight(address)
        if num_cpus is not None:
            raise ConfigError(
                "num_cpus is only for a local cluster; the cluster at "
                f"{address!r} already decides its CPUs"
            )
        kwargs["address"] = address
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = "a local Ray cluster" if kwargs["address"] == "local" else f"Ray at {address!r}"
        raise ClusterError(
            f"cannot connect to {where}: {exc}; start one with `ray start --head` (use "
            "--ray auto on a node of that cluster) or pass --ray local for a private one"
        ) from exc
    log.info("connected to Ray: %s", ray.cluster_resources())
    return True


def _preflight(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast when nothing listens at an explicit address: ``ray.init`` would retry for
    minutes before giving up."""
    if address == "auto":
        return  # Ray itself answers at once when no cluster runs on this node
    parts = urlsplit(address if "://" in address else f"gcs://{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise ConfigError(f"--ray address {address!r} is not host:port or ray://host:port") from exc
    if host is None or port is None:
        raise ConfigError(
            f"--ray address {address!r} has no port; use 'auto', 'local', host:6379 "
            "(the head's GCS port) or ray://host:10001 (Ray client)"
        )
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as exc:
        raise ClusterError(
            f"no Ray cluster answers at {address!r} ({exc.strerror or exc}); start one with "
            "`ray start --head` there, or pass --ray local for a private one on this machine"
        ) from exc
