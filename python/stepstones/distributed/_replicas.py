"""Reward-server replicas on a Ray cluster: one per node, each grading with that node's cores.

OpenRLHF round-robins over the comma-separated URLs of ``--reward.remote_url``, so one replica
per node spreads grading over the whole cluster with no load balancer. Each replica is a Ray
actor pinned to its node; inside it the ordinary reward server (:class:`stepstones.serve.App`
under uvicorn) runs on an event loop in its own thread, with a sandbox of one zygote per core
of the node. :attr:`RewardReplicas.remote_url` is the value for ``--reward.remote_url``;
:meth:`RewardReplicas.write` puts it in a file for launch scripts.
"""

from __future__ import annotations

import logging
import os
import tempfile
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import anyio.from_thread
import msgspec

from stepstones.distributed._ray import require_ray
from stepstones.errors import ClusterError, ConfigError, StepstonesError
from stepstones.serve import App, Config, Rewarder, running

__all__ = ["ReplicaSettings", "RewardReplica", "RewardReplicas"]

log = logging.getLogger("stepstones.distributed")


class ReplicaSettings(msgspec.Struct, frozen=True, kw_only=True):
    """How every replica serves.

    server: the reward server's settings; ``host`` is replaced by the node's address unless it
        is "0.0.0.0"/"::" (listen everywhere, advertise the node's address); ``port`` 0 picks a
        free port per node, a fixed port makes the URLs predictable.
    workers: sandbox zygotes per replica (default: one per core of its node).
    allow_weaker: serve even where some sandbox isolation layer is unavailable.
    """

    server: Config = Config(port=0)
    workers: int | None = None
    allow_weaker: bool = False

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise ConfigError(f"workers must be >= 1, got {self.workers}")


class RewardReplica:
    """One reward server inside a Ray actor (plain Python; ``ray.remote`` wraps it)."""

    def __init__(self, settings: ReplicaSettings, node_address: str) -> None:
        self._settings = settings
        self._address = node_address
        self._portal_cm: AbstractContextManager[anyio.from_thread.BlockingPortal] | None = None
        self._server_cm: AbstractContextManager[str] | None = None
        self._sandbox: Any = None
        self._url = ""

    def start(self) -> str:
        """Start the sandbox and the server; returns ``http://ADDRESS:PORT/get_reward``."""
        from stepstones.sandbox import Sandbox  # noqa: PLC0415 - only inside the actor

        s = self._settings
        listen_all = s.server.host in ("0.0.0.0", "::")
        config = msgspec.structs.replace(
            s.server, host=s.server.host if listen_all else self._address
        )
        self._sandbox = Sandbox(workers=s.workers, allow_weaker=s.allow_weaker)
        try:
            app = App(
                Rewarder.from_config(self._sandbox, config),
                config,
            )
            self._portal_cm = anyio.from_thread.start_blocking_portal("asyncio")
            portal = self._portal_cm.__enter__()
            self._server_cm = portal.wrap_async_context_manager(running(app))
            base = self._server_cm.__enter__()
        except BaseException:
            self.stop()
            raise
        port = base.rsplit(":", 1)[1]
        host = f"[{self._address}]" if ":" in self._address else self._address
        self._url = f"http://{host}:{port}/get_reward"
        return self._url

    def url(self) -> str:
        return self._url

    def workers(self) -> int:
        """Sandbox zygotes of this replica."""
        return int(self._sandbox.workers) if self._sandbox is not None else 0

    def stop(self) -> None:
        """Stop serving (in-flight requests finish), then the sandbox."""
        if self._server_cm is not None:
            cm, self._server_cm = self._server_cm, None
            cm.__exit__(None, None, None)
        if self._portal_cm is not None:
            pcm, self._portal_cm = self._portal_cm, None
            pcm.__exit__(None, None, None)
        if self._sandbox is not None:
            sandbox, self._sandbox = self._sandbox, None
            sandbox.close()


class RewardReplicas:
    """Start one :class:`RewardReplica` per alive node of the connected Ray cluster.

    ``with RewardReplicas(settings) as replicas: replicas.remote_url`` — the comma-separated
    list for OpenRLHF's ``--reward.remote_url``. ``cpus_per_replica`` is what Ray reserves for
    each replica (the sandbox still uses every core of the node; keep the reservation small so
    the trainer's actors fit). ``nodes`` limits the replicas to that many nodes (default all).
    """

    def __init__(
        self,
        settings: ReplicaSettings | None = None,
        *,
        cpus_per_replica: float = 1.0,
        nodes: int | None = None,
        start_timeout_s: float = 120.0,
    ) -> None:
        if cpus_per_replica < 0:
            raise ConfigError(f"cpus_per_replica must be >= 0, got {cpus_per_replica}")
        if nodes is not None and nodes < 1:
            raise ConfigError(f"nodes must be >= 1, got {nodes}")
        if not start_timeout_s > 0:
            raise ConfigError(f"start_timeout_s must be > 0 seconds, got {start_timeout_s}")
        self.settings = settings if settings is not None else ReplicaSettings()
        self._cpus = cpus_per_replica
        self._nodes = nodes
        self._timeout_s = start_timeout_s
        self.handles: list[Any] = []
        self.urls: list[str] = []

    @property
    def remote_url(self) -> str:
        """The value for ``--reward.remote_url``: every replica's URL, comma-separated."""
        return ",".join(self.urls)

    def start(self) -> list[str]:
        """Start the replicas and wait until each listens; returns their URLs."""
        ray = require_ray()
        from ray.util.scheduling_strategies import (  # noqa: PLC0415 - Ray is optional
            NodeAffinitySchedulingStrategy,
        )

        nodes = [n for n in ray.nodes() if n.get("Alive")]
        if self._nodes is not None:
            nodes = nodes[: self._nodes]
        if not nodes:
            raise ClusterError("the Ray cluster has no alive node to start a reward replica on")
        actor_class = ray.remote(RewardReplica)
        for node in nodes:
            strategy = NodeAffinitySchedulingStrategy(node_id=node["NodeID"], soft=False)
            handle = actor_class.options(
                num_cpus=self._cpus, scheduling_strategy=strategy, max_restarts=0
            ).remote(self.settings, node["NodeManagerAddress"])
            self.handles.append(handle)
        try:
            self.urls = list(
                ray.get([h.start.remote() for h in self.handles], timeout=self._timeout_s)
            )
        except ray.exceptions.GetTimeoutError as exc:
            self.stop()
            raise ClusterError(
                f"reward replicas did not start within {self._timeout_s:g} s; does every node "
                "have free CPUs (cpus_per_replica) and stepstones installed?"
            ) from exc
        except ray.exceptions.RayTaskError as exc:
            self.stop()
            if isinstance(exc.cause, StepstonesError):
                raise exc.cause from exc  # e.g. the sandbox cannot start on that node
            raise ClusterError(f"a reward replica failed to start: {exc.cause!r}") from exc
        except ray.exceptions.RayActorError as exc:
            self.stop()
            raise ClusterError(f"a reward replica died while starting: {exc}") from exc
        return self.urls

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write :attr:`remote_url` and a newline to ``path`` atomically (for launch scripts)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            with os.fdopen(fd, "w") as f:
                f.write(self.remote_url + "\n")
            Path(tmp).replace(target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    def stop(self) -> None:
        """Stop every replica (gracefully, then kill)."""
        ray = require_ray()
        if not self.handles:
            return
        handles, self.handles = self.handles, []
        try:
            ray.get([h.stop.remote() for h in handles], timeout=60)
        except ray.exceptions.RayError as exc:
            log.debug("stopping reward replicas: %s", exc)
        for handle in handles:
            try:
                ray.kill(handle, no_restart=True)
            except (ValueError, ray.exceptions.RayError) as exc:
                log.debug("killing a reward replica: %s", exc)
        self.urls = []

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
