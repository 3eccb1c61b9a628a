"""Ray, imported lazily: ``import stepstones`` never needs it, and a missing install or an
unreachable cluster is one clear sentence, not a traceback."""

from __future__ import annotations

import importlib
import logging
from types import ModuleType
from typing import Any

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
        kwargs["num_cpus"] = num_cpus
    else:
        if num_cpus is not None:
            raise ConfigError(
                "num_cpus is only for a local cluster; the cluster at "
                f"{address!r} already decides its CPUs"
            )
        kwargs["address"] = address
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = "a local Ray cluster" if "address" not in kwargs else f"Ray at {address!r}"
        raise ClusterError(
            f"cannot connect to {where}: {exc}; start one with `ray start --head` (use "
            "--ray auto on a node of that cluster) or pass --ray local for a private one"
        ) from exc
    log.info("connected to Ray: %s", ray.cluster_resources())
    return True
