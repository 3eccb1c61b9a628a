"""``stepstones serve``: the reward server in the foreground (Ctrl-C / SIGTERM stop it gracefully).

Point OpenRLHF at it with ``--reward.remote_url http://HOST:PORT/get_reward`` (comma-separate
one URL per node to spread load), and verl's sandbox path at ``http://HOST:PORT/run_code``.
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import logging
import signal
import socket
import sys

import uvicorn

from stepstones._cli import _serve as cli
from stepstones.errors import ConfigError
from stepstones.serve._app import App
from stepstones.serve._rewarder import Rewarder
from stepstones.serve._server import bind, uvicorn_config

__all__ = ["add_arguments", "run"]

add_arguments = cli.add_arguments


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    settings = cli.settings(args)
    if settings.ray is not None:
        from stepstones.distributed import serve_on_ray  # noqa: PLC0415 - Ray only when asked

        return serve_on_ray(settings)
    return _serve(settings)


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket; a port in use or an address not ours is one sentence."""
    try:
        return bind(host, port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"port {port} on {host} is already in use by another process: stop it or pass "
                "another --port (0 picks a free one)"
            ) from None
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def _serve(s: cli.ServeSettings) -> int:
    from stepstones.sandbox import Sandbox  # noqa: PLC0415 - heavy; only when serving

    logging.basicConfig(
        level=s.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    config = s.server
    if not _is_loopback(config.host) and config.token is None:
        sys.stderr.write(
            f"stepstones serve: warning: listening on {config.host} without a token; anyone who "
            f"can reach it can run code in the sandbox. Set {s.token_env}.\n",
        )
    # Bind before the sandbox starts: a busy port fails at once and starts nothing.
    sock = _listen(config.host, config.port)
    try:
        with Sandbox(workers=s.workers, allow_weaker=s.allow_weaker) as sandbox:
            app = App(Rewarder.from_config(sandbox, config), config)
            server = uvicorn.Server(uvicorn_config(app, log_level=s.log_level))
            port = sock.getsockname()[1]
            sys.stderr.write(
                f"stepstones serve: rewards at http://{config.host}:{port}/get_reward "
                f"(sandbox workers: {sandbox.workers}; "
                f"auth: {'bearer token' if config.token else 'none'})\n",
            )
            stopped = _serve_until_signal(server, sock)
    finally:
        sock.close()
    if stopped:
        sys.stderr.write(f"stepstones serve: stopped ({signal.Signals(stopped[-1]).name})\n")
    return 0


def _serve_until_signal(server: uvicorn.Server, sock: socket.socket) -> list[int]:
    """Serve until SIGINT/SIGTERM; returns the signals received.

    uvicorn stops gracefully on SIGINT/SIGTERM, then re-raises the signal to the handler that
    was installed before it; these record it instead of killing the process, so the sandbox is
    closed and the exit status says "stopped cleanly"."""
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
    return stopped
