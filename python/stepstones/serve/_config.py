"""Settings of the reward server; safe by default (loopback, bounded everything)."""

from __future__ import annotations

import msgspec

from stepstones.errors import ConfigError

__all__ = ["Config"]


class Config(msgspec.Struct, frozen=True, kw_only=True):
    """How the reward server listens, authenticates and bounds its work.

    host/port: where to listen; loopback unless asked otherwise (a reward server executes
        model-written code: expose it only on a trusted network, ideally with a token).
    token: when set, every route but ``/healthz`` needs ``Authorization: Bearer <token>``.
    max_body_kib: larger request bodies get 413.
    max_items: more items in one reward request get 413.
    max_pending_requests: requests being handled at once; beyond it new ones get 503 with
        ``Retry-After`` (OpenRLHF retries), so memory stays bounded under any load.
    max_concurrent_grades: grader calls in flight (each may hold sandbox children).
    grade_timeout_s: deadline of one grader call; past it the items score 0.0 (grade_timeout).
    batch_window_s: answers to the same problem arriving within this window (from any number
        of requests) are graded in one call; 0 batches only what is ready at once.
    max_batch: most answers in one grading call.
    run_code: serve the SandboxFusion-compatible ``POST /run_code``.
    max_run_timeout_s / max_memory_mib: caps on what a /run_code request may ask for.
    graceful_timeout_s: on SIGTERM/SIGINT, how long in-flight requests may take to finish.
    header_timeout_s: a connection must send a request's line and headers within this many
        seconds of opening (or of its first byte, on a kept-alive connection), else it gets 408
        and is closed: a client trickling headers never holds a connection for long.
    body_timeout_s: a request's whole body must arrive within this many seconds of its
        headers, else 408 and the connection is closed; a request reading its body holds a
        ``max_pending_requests`` slot, so a slow sender holds one at most this long.
    ledger_dir: when set, record the live policy's results per problem in this folder
        (``<run dir>/ledger``; see :mod:`stepstones.serve._ledger`), served at ``GET /ledger``.
    ledger_window: rollouts per problem in the ledger's windowed pass rate.
    """

    host: str = "127.0.0.1"
    port: int = 5000  # not vLLM's 8000, which often runs beside it
    token: str | None = None
    max_body_kib: int = 16 * 1024
    max_items: int = 4096
    max_pending_requests: int = 8192
    max_concurrent_grades: int = 256
    grade_timeout_s: float = 60.0
    batch_window_s: float = 0.005
    max_batch: int = 256
    run_code: bool = True
    max_run_timeout_s: float = 30.0
    max_memory_mib: int = 4096
    graceful_timeout_s: float = 30.0
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    ledger_dir: str | None = None
    ledger_window: int = 32

    def __post_init__(self) -> None:
        if self.batch_window_s < 0:
            raise ConfigError(f"batch_window_s must be >= 0 seconds, got {self.batch_window_s}")
        for name in (
            "max_body_kib",
            "max_items",
            "max_pending_requests",
            "max_concurrent_grades",
            "max_batch",
            "ledger_window",
        ):
            value = getattr(self, name)
            if value < 1:
                raise ConfigError(f"{name} must be >= 1, got {value}")
        for name in (
            "grade_timeout_s",
            "max_run_timeout_s",
            "graceful_timeout_s",
            "header_timeout_s",
            "body_timeout_s",
        ):
            value = getattr(self, name)
            if not value > 0:
                raise ConfigError(f"{name} must be > 0 seconds, got {value}")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be in 0..65535, got {self.port}")
        if self.token is not None and not self.token.strip():
            raise ConfigError("token must not be empty: omit it to disable authentication")

    def __repr__(self) -> str:  # the token never reaches logs
        token = "***" if self.token else None
        return f"Config(host={self.host!r}, port={self.port}, token={token})"
