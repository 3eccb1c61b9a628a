"""``stepstones serve --ray ADDRESS``: one reward server per node of a Ray cluster.

:func:`add_serve_ray_arguments` adds the Ray options to ``stepstones serve``'s parser and
:func:`serve_on_ray` serves a parsed ``serve`` namespace on every node: it prints the
comma-separated URL list for OpenRLHF's ``--reward.remote_url`` on stdout (and writes it to
``--urls-file``), then keeps the replicas up until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from contextlib import ExitStack

from stepstones.distributed._ray import connect, require_ray
from stepstones.distributed._replicas import ReplicaSettings, RewardReplicas
from stepstones.errors import ConfigError
from stepstones.serve import ServerConfig

__all__ = ["add_serve_ray_arguments", "serve_on_ray"]

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def add_serve_ray_arguments(parser: argparse.ArgumentParser) -> None:
    """The Ray options of ``stepstones serve`` (without --ray nothing changes)."""
    group = parser.add_argument_group("Ray (needs: pip install 'stepstones[ray]')")
    group.add_argument(
        "--ray",
        metavar="ADDRESS",
        default=None,
        help="start one reward server per node of a Ray cluster ('auto', an address, or "
        "'local'); each listens on --port at its node's address (a loopback --host means: the "
        "node's address; 0.0.0.0 listens everywhere) and grades with that node's cores",
    )
    group.add_argument(
        "--urls-file",
        default=None,
        help="with --ray: write the comma-separated reward URLs (the value for OpenRLHF's "
        "--reward.remote_url) to this file once every replica listens",
    )
    group.add_argument(
        "--ray-cpus-per-replica",
        type=float,
        default=1.0,
        help="CPUs Ray reserves per replica (default 1; the sandbox still uses all cores)",
    )


def _settings(args: argparse.Namespace) -> ReplicaSettings:
    token = os.environ.get(args.token_env) or None
    host = "127.0.0.1" if args.host in _LOOPBACK else args.host
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {args.workers}")
    server = ServerConfig(
        host=host,
        port=args.port,
        token=token,
        max_body_kib=args.max_body_kib,
        max_items=args.max_items,
        max_pending_requests=args.max_pending_requests,
        max_concurrent_grades=args.max_concurrent_grades,
        grade_timeout_s=args.grade_timeout_s,
        run_code=not args.no_run_code,
        graceful_timeout_s=args.graceful_timeout_s,
    )
    return ReplicaSettings(server=server, workers=args.workers, allow_weaker=args.allow_weaker)


def serve_on_ray(args: argparse.Namespace) -> int:
    """Serve a parsed ``stepstones serve`` namespace that has ``args.ray`` set."""
    logging.basicConfig(level=args.log_level.upper(), format="stepstones: %(message)s")
    require_ray()
    settings = _settings(args)
    if settings.server.token is None:
        sys.stderr.write(
            "stepstones serve: warning: replicas listen on the cluster network without a token; "
            f"anyone who can reach a node can run code in its sandbox. Set {args.token_env}.\n"
        )
    stop = threading.Event()
    with ExitStack() as stack:
        if connect(args.ray):
            stack.callback(require_ray().shutdown)
        # After connecting: ray.init installs its own SIGTERM handler, which would kill us
        # without stopping the replicas.
        for sig in (signal.SIGINT, signal.SIGTERM):
            stack.callback(signal.signal, sig, signal.signal(sig, lambda *_: stop.set()))
        replicas = stack.enter_context(
            RewardReplicas(settings, cpus_per_replica=args.ray_cpus_per_replica)
        )
        if args.urls_file:
            replicas.write(args.urls_file)
        sys.stderr.write(
            f"stepstones serve: {len(replicas.urls)} reward replicas on Ray ({args.ray}); "
            "pass the next line to OpenRLHF as --reward.remote_url\n"
        )
        sys.stdout.write(replicas.remote_url + "\n")
        sys.stdout.flush()
        stop.wait()
        sys.stderr.write("stepstones serve: stopping the replicas\n")
    return 0
