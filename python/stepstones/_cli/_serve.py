"""``stepstones serve``'s options and settings, shared by the local server and the Ray replicas.

:func:`add_arguments` declares every option once and :func:`settings` is their one reader: the
local server (``stepstones.serve._cli``) and the replicas of ``--ray``
(``stepstones.distributed._serve_cli``) both serve the :class:`ServeSettings` it returns, so
an option reaches both or neither.
"""

from __future__ import annotations

import argparse
import os

import msgspec

from stepstones.errors import ConfigError
from stepstones.serve._config import Config

__all__ = [
    "LOG_LEVELS",
    "TOKEN_ENV",
    "ServeRaySettings",
    "ServeSettings",
    "add_arguments",
    "settings",
]

TOKEN_ENV = "STEPSTONES_SERVE_TOKEN"
LOG_LEVELS = ("debug", "info", "warning", "error")


class ServeRaySettings(msgspec.Struct, frozen=True, kw_only=True):
    """Where ``serve --ray`` puts its replicas: the cluster address, the CPUs Ray reserves per
    replica, and the file that receives the comma-separated reward URLs."""

    address: str
    cpus_per_replica: float = 1.0
    urls_file: str | None = None


class ServeSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything ``stepstones serve`` was asked for: the server's config (bounds, batching,
    token read from ``token_env``), the sandbox's zygotes, and the Ray placement if any."""

    server: Config
    token_env: str
    workers: int | None
    allow_weaker: bool
    log_level: str
    ray: ServeRaySettings | None = None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Every option of ``stepstones serve``, the Ray ones included."""
    d = Config()
    parser.description = (
        "Serve rewards over HTTP: POST /get_reward (OpenRLHF's remote reward protocol), "
        "POST /run_code (verl's SandboxFusion path), GET /healthz and GET /metrics "
        "(Prometheus). Binds 127.0.0.1 unless told otherwise."
    )
    parser.add_argument(
        "--host", default=d.host, help="address to bind; 0.0.0.0 listens on every interface"
    )
    parser.add_argument("--port", type=int, default=d.port, help="TCP port; 0 picks a free one")
    parser.add_argument(
        "--token-env",
        default=TOKEN_ENV,
        help="environment variable holding the bearer token; unset or empty: no authentication "
        "(a token never goes on the command line)",
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="sandbox zygotes (default: one per core)"
    )
    parser.add_argument(
        "--max-concurrent-grades",
        type=int,
        default=d.max_concurrent_grades,
        help="grading calls in flight (each may hold sandbox children)",
    )
    parser.add_argument(
        "--max-pending-requests",
        type=int,
        default=d.max_pending_requests,
        help="requests handled at once; more get 503 with Retry-After (OpenRLHF retries)",
    )
    parser.add_argument(
        "--grade-timeout-s",
        type=float,
        default=d.grade_timeout_s,
        help="deadline of one grading call in seconds; past it the items score 0.0",
    )
    parser.add_argument(
        "--batch-window-s",
        type=float,
        default=d.batch_window_s,
        help="answers to one problem that arrive within this many seconds are graded together",
    )
    parser.add_argument(
        "--max-batch", type=int, default=d.max_batch, help="most answers in one grading call"
    )
    parser.add_argument(
        "--max-body-kib",
        type=int,
        default=d.max_body_kib,
        help="largest request body in KiB; larger ones get 413",
    )
    parser.add_argument(
        "--max-items",
        type=int,
        default=d.max_items,
        help="most items in one reward request; more get 413",
    )
    parser.add_argument(
        "--graceful-timeout-s",
        type=float,
        default=d.graceful_timeout_s,
        help="on SIGTERM/Ctrl-C, seconds in-flight requests get to finish",
    )
    parser.add_argument(
        "--header-timeout-s",
        type=float,
        default=d.header_timeout_s,
        help="seconds a connection gets to send a request's headers; slower ones get 408",
    )
    parser.add_argument(
        "--body-timeout-s",
        type=float,
        default=d.body_timeout_s,
        help="seconds a request gets to send its body (it holds a pending slot meanwhile); "
        "slower ones get 408",
    )
    parser.add_argument("--no-run-code", action="store_true", help="do not serve POST /run_code")
    parser.add_argument(
        "--allow-weaker-sandbox",
        "--allow-weaker",
        dest="allow_weaker",
        action="store_true",
        help="start even if some sandbox isolation layers are unavailable (not for untrusted code)",
    )
    parser.add_argument(
        "--log-level", default="info", choices=LOG_LEVELS, help="server log verbosity"
    )
    parser.add_argument(
        "--ledger",
        metavar="RUN_DIR",
        default=None,
        help="record the live policy's results per problem in RUN_DIR/ledger (online mode: "
        "`stepstones online RUN_DIR` reads it; GET /ledger serves it)",
    )
    parser.add_argument(
        "--ledger-window",
        type=int,
        default=d.ledger_window,
        help="rollouts per problem in the ledger's windowed pass rate",
    )
    ray = parser.add_argument_group("Ray (needs: pip install 'stepstones[ray]')")
    ray.add_argument(
        "--ray",
        metavar="ADDRESS",
        default=None,
        help="start one reward server per node of a Ray cluster ('auto', an address, or "
        "'local'); each listens on --port at its node's address (a loopback --host means: the "
        "node's address; 0.0.0.0 listens everywhere) and grades with that node's cores",
    )
    ray.add_argument(
        "--urls-file",
        default=None,
        help="with --ray: write the comma-separated reward URLs (the value for OpenRLHF's "
        "--reward.remote_url) to this file once every replica listens",
    )
    ray.add_argument(
        "--ray-cpus-per-replica",
        type=float,
        default=1.0,
        help="CPUs Ray reserves per replica (the sandbox still uses all cores)",
    )


def settings(args: argparse.Namespace) -> ServeSettings:
    """The one reader of ``stepstones serve``'s parsed arguments (ConfigError on bad values).

    The token is read from the variable ``--token-env`` names, never from the command line."""
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {args.workers}")
    ray = None
    if args.ray:
        if args.ray_cpus_per_replica < 0:
            raise ConfigError(
                f"--ray-cpus-per-replica must be >= 0, got {args.ray_cpus_per_replica}"
            )
        ray = ServeRaySettings(
            address=args.ray, cpus_per_replica=args.ray_cpus_per_replica, urls_file=args.urls_file
        )
    elif args.urls_file:
        raise ConfigError("--urls-file needs --ray: a single server's URL is printed on stderr")
    server = Config(
        host=args.host,
        port=args.port,
        token=os.environ.get(args.token_env) or None,
        max_body_kib=args.max_body_kib,
        max_items=args.max_items,
        max_pending_requests=args.max_pending_requests,
        max_concurrent_grades=args.max_concurrent_grades,
        grade_timeout_s=args.grade_timeout_s,
        batch_window_s=args.batch_window_s,
        max_batch=args.max_batch,
        run_code=not args.no_run_code,
        graceful_timeout_s=args.graceful_timeout_s,
        header_timeout_s=args.header_timeout_s,
        body_timeout_s=args.body_timeout_s,
        ledger_dir=None if args.ledger is None else f"{args.ledger.rstrip('/')}/ledger",
        ledger_window=args.ledger_window,
    )
    return ServeSettings(
        server=server,
        token_env=args.token_env,
        workers=args.workers,
        allow_weaker=args.allow_weaker,
        log_level=args.log_level,
        ray=ray,
    )
