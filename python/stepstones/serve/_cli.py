"""``stepstones serve``: the reward server in the foreground (Ctrl-C / SIGTERM stop it gracefully).

Point OpenRLHF at it with ``--reward.remote_url http://HOST:PORT/get_reward`` (comma-separate
one URL per node to spread load), and verl's sandbox path at ``http://HOST:PORT/run_code``.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import signal
import sys

import uvicorn

from stepstones.errors import ConfigError
from stepstones.serve._app import RewardApp
from stepstones.serve._config import ServerConfig
from stepstones.serve._rewarder import Rewarder
from stepstones.serve._server import bind, uvicorn_config

__all__ = ["add_arguments", "run"]

TOKEN_ENV = "STEPSTONES_SERVE_TOKEN"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = ServerConfig()
    parser.add_argument("--host", default=d.host, help="address to bind (default: loopback only)")
    parser.add_argument("--port", type=int, default=d.port, help="TCP port (default %(default)s)")
    parser.add_argument(
        "--token-env",
        default=TOKEN_ENV,
        help="environment variable holding the bearer token; unset or empty: no authentication "
        "(default %(default)s; a token never goes on the command line)",
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="sandbox zygotes (default: one per core)"
    )
    parser.add_argument("--max-concurrent-grades", type=int, default=d.max_concurrent_grades)
    parser.add_argument("--max-pending-requests", type=int, default=d.max_pending_requests)
    parser.add_argument("--grade-timeout-s", type=float, default=d.grade_timeout_s)
    parser.add_argument(
        "--batch-window-s",
        type=float,
        default=d.batch_window_s,
        help="grade answers to one problem that arrive within this window together",
    )
    parser.add_argument("--max-batch", type=int, default=d.max_batch)
    parser.add_argument("--max-body-kib", type=int, default=d.max_body_kib)
    parser.add_argument("--max-items", type=int, default=d.max_items)
    parser.add_argument("--graceful-timeout-s", type=float, default=d.graceful_timeout_s)
    parser.add_argument("--no-run-code", action="store_true", help="do not serve POST /run_code")
    parser.add_argument(
        "--allow-weaker-sandbox",
        "--allow-weaker",
        dest="allow_weaker",
        action="store_true",
        help="start even if some sandbox isolation layers are unavailable (not for untrusted code)",
    )
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    # One server per node of a Ray cluster (stepstones.distributed; Ray is imported on use).
    from stepstones.distributed import add_serve_ray_arguments  # noqa: PLC0415

    add_serve_ray_arguments(parser)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    from stepstones.sandbox import Sandbox  # noqa: PLC0415 - heavy; only when serving

    if getattr(args, "ray", None):
        from stepstones.distributed import serve_on_ray  # noqa: PLC0415

        return serve_on_ray(args)

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    token = os.environ.get(args.token_env) or None
    config = ServerConfig(
        host=args.host,
        port=args.port,
        token=token,
        max_body_kib=args.max_body_kib,
        max_items=args.max_items,
        max_pending_requests=args.max_pending_requests,
        max_concurrent_grades=args.max_concurrent_grades,
        grade_timeout_s=args.grade_timeout_s,
        batch_window_s=args.batch_window_s,
        max_batch=args.max_batch,
        run_code=not args.no_run_code,
        graceful_timeout_s=args.graceful_timeout_s,
    )
    if not _is_loopback(config.host) and token is None:
        sys.stderr.write(
            f"stepstones serve: warning: listening on {config.host} without a token; anyone who "
            f"can reach it can run code in the sandbox. Set {args.token_env}.\n",
        )
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {args.workers}")
    with Sandbox(workers=args.workers, allow_weaker=args.allow_weaker) as sandbox:
        app = RewardApp(
            Rewarder(
                sandbox,
                max_concurrent_grades=config.max_concurrent_grades,
                grade_timeout_s=config.grade_timeout_s,
                batch_window_s=config.batch_window_s,
                max_batch=config.max_batch,
            ),
            config,
        )
        sock = bind(config.host, config.port)
        server = uvicorn.Server(uvicorn_config(app, log_level=args.log_level))
        sys.stderr.write(
            f"stepstones serve: rewards at http://{config.host}:{sock.getsockname()[1]}/get_reward "
            f"(sandbox workers: {sandbox.workers}; auth: {'bearer token' if token else 'none'})\n",
        )
        # uvicorn stops gracefully on SIGINT/SIGTERM, then re-raises the signal to the handler
        # that was installed before it; these record it instead of killing the process, so
        # the sandbox below is closed and the exit status says "stopped cleanly".
        stopped: list[int] = []
        previous = {
            sig: signal.signal(sig, lambda signum, _frame: stopped.append(signum))
            for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            server.run(sockets=[sock])
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            sock.close()
    if stopped:
        sys.stderr.write(f"stepstones serve: stopped ({signal.Signals(stopped[-1]).name})\n")
    return 0
