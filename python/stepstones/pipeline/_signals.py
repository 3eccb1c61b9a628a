"""Ctrl-C and SIGTERM for a running generation: the first finishes, the second abandons."""

from __future__ import annotations

import signal
from typing import Protocol

import anyio

from stepstones.pipeline._feed import RunResult
from stepstones.pipeline._progress import Progress

__all__ = ["stop_on_signals"]


class _Stoppable(Protocol):
    """What both the local Runner and the Ray runner offer to a signal handler."""

    @property
    def result(self) -> RunResult: ...

    @property
    def in_flight(self) -> int: ...

    def stop(self) -> None: ...


async def stop_on_signals(runner: _Stoppable, progress: Progress, scope: anyio.CancelScope) -> None:
    """On the first SIGINT/SIGTERM stop handing out chains and finish those in flight; on the
    second cancel ``scope``, abandoning them (nothing half-done is stored either way)."""
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            if not runner.result.stopped:
                runner.stop()
                progress.note = (
                    f"stopping: finishing {runner.in_flight} chains in flight "
                    "(Ctrl-C again to abandon them)"
                )
            else:
                progress.note = "abandoned"
                scope.cancel()
