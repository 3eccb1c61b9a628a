"""``stepstones serve --ray ADDRESS``: one reward server per node of a Ray cluster.

:func:`serve_on_ray` serves the settings of a ``stepstones serve`` command
(:class:`stepstones._cli._serve.ServeSettings`, built from the same options as a local server)
on every node: it prints the comma-separated URL list for OpenRLHF's ``--reward.remote_url``
on stdout (and writes it to ``--urls-file``), then keeps the replicas up until Ctrl-C or
SIGTERM. Only where the servers run differs from ``stepstones serve``.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from contextlib import ExitStack

import msgspec

from stepstones._cli import _serve as cli
from stepstones.distributed._ray import connect, require_ray
from stepstones.distributed._replicas import ReplicaSettings, RewardReplicas
from stepstones.errors import ConfigError

__all__ = ["replica_settings", "serve_on_ray"]

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def replica_settings(s: cli.ServeSettings) -> ReplicaSettings:
    """How every replica serves: the local server's config, with a loopback host meaning each
    node's own address."""
    host = "127.0.0.1" if s.server.host in _LOOPBACK else s.server.host
    return ReplicaSettings(
        server=msgspec.structs.replace(s.server, host=host),
        workers=s.workers,
        allow_weaker=s.allow_weaker,
    )


def serve_on_ray(s: cli.ServeSettings) -> int:
    """Serve ``stepstones serve`` settings that name a Ray cluster (``s.ray``)."""
    if s.ray is None:
        raise ConfigError("serve_on_ray needs settings with a Ray address (--ray ADDRESS)")
    logging.basicConfig(level=s.log_level.upper(), format="stepstones: %(message)s")
    require_ray()
    settings = replica_settings(s)
    if settings.server.token is None:
        sys.stderr.write(
            "stepstones serve: warning: replicas listen on the cluster network without a token; "
            f"anyone who can reach a node can run code in its sandbox. Set {s.token_env}.\n"
        )
    stop = threading.Event()
    with ExitStack() as stack:
        if connect(s.ray.address):
            stack.callback(require_ray().shutdown)
        # After connecting: ray.init installs its own SIGTERM handler, which would kill us
        # without stopping the replicas.
        for sig in (signal.SIGINT, signal.SIGTERM):
            stack.callback(signal.signal, sig, signal.signal(sig, lambda *_: stop.set()))
        replicas = stack.enter_context(
            RewardReplicas(settings, cpus_per_replica=s.ray.cpus_per_replica)
        )
        if s.ray.urls_file:
            replicas.write(s.ray.urls_file)
        sys.stderr.write(
            f"stepstones serve: {len(replicas.urls)} reward replicas on Ray ({s.ray.address}); "
            "pass the next line to OpenRLHF as --reward.remote_url\n"
        )
        sys.stdout.write(replicas.remote_url + "\n")
        sys.stdout.flush()
        stop.wait()
        sys.stderr.write("stepstones serve: stopping the replicas\n")
    return 0
