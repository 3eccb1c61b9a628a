"""The live progress line of ``stepstones generate``, on stderr.

On a terminal or in a notebook, ``rich`` redraws the line in place a few times a second (it knows
the terminal's width, the notebook's widget and how to keep printed text above the line);
otherwise (a log file, CI) a plain line is written every ``interval_s`` seconds, so logs stay
readable. The clock is injectable, so tests run on a mock clock instead of wall time.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

import anyio
from rich.console import Console
from rich.live import Live
from rich.text import Text

from stepstones.pipeline._config import Config
from stepstones.pipeline._stats import histogram
from stepstones.records import Chain, Turn

__all__ = ["Progress"]

_BARS = " ▁▂▃▄▅▆▇█"
#: Seconds between redraws of the live line on a terminal or in a notebook.
LIVE_REFRESH_S = 0.25


def sparkline(counts: list[int]) -> str:
    """One character per bin, its height proportional to the count."""
    top = max(counts, default=0)
    if top == 0:
        return "·" * len(counts)
    return "".join(_BARS[round(c / top * (len(_BARS) - 1))] for c in counts)


class Progress:
    """Counters fed by the runner (``on_turn``/``on_chain``/``on_error``) and their rendering.

    clock: seconds from any fixed origin (default :func:`time.monotonic`); the elapsed time and
        the tokens per second are measured with it.
    """

    def __init__(
        self,
        config: Config,
        *,
        target: int,
        already: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.target = target
        self.already = already  # chains stored by an earlier, resumed run
        self._clock = clock
        self.started = clock()
        self.chains = 0
        self.turns = 0
        self.measured = 0
        self.viable = 0
        self.llm_errors = 0
        self.rejected = 0
        self.chain_errors = 0
        self.completion_tokens = 0
        self.pass_rates: list[float] = []
        self.note = ""

    def on_turn(self, turn: Turn) -> None:
        self.turns += 1
        self.completion_tokens += (
            turn.teacher_usage.completion_tokens + turn.student_usage.completion_tokens
        )
        if turn.rejection is not None:
            self.rejected += 1
            self.llm_errors += turn.rejection.kind == "llm"
        if turn.problem is not None and turn.problem.pass_rate is not None:
            self.measured += 1
            self.viable += self.config.is_viable(turn.problem.pass_rate)
            self.pass_rates.append(turn.problem.pass_rate)

    def on_chain(self, chain: Chain) -> None:
        del chain
        self.chains += 1

    def on_error(self, *_: object) -> None:
        self.chain_errors += 1

    def line(self) -> str:
        elapsed = max(1e-9, self._clock() - self.started)
        done = self.already + self.chains
        yield_ = self.viable / self.turns if self.turns else 0.0
        parts = [
            f"chains {done}/{self.target}",
            f"turns {self.turns}",
            f"viable {self.viable}/{self.measured} (yield {yield_:.0%})",
            f"p [{sparkline(histogram(self.pass_rates))}]",
            f"{self.completion_tokens / elapsed:.0f} tok/s",
            f"rejected {self.rejected} (llm {self.llm_errors})",
            f"errors {self.chain_errors}",
            f"{elapsed:.0f}s",
        ]
        if self.note:
            parts.append(self.note)
        return " | ".join(parts)

    async def display(self, stream: TextIO | None = None, *, interval_s: float = 10.0) -> None:
        """Show the line until cancelled, then once more as it ends.

        stream: default stderr. On a terminal or in a notebook (as ``rich`` detects them; a
        ``TERM=dumb`` terminal counts as a log) the line is redrawn in place every
        :data:`LIVE_REFRESH_S` seconds; anywhere else a plain line is written every
        ``interval_s`` seconds.
        """
        out = stream if stream is not None else sys.stderr
        console = Console(file=out, highlight=False, markup=False, emoji=False)
        live = console.is_jupyter or (console.is_terminal and not console.is_dumb_terminal)
        if live:
            await self._live(console)
        else:
            await self._plain(out, interval_s)

    async def _live(self, console: Console) -> None:
        with Live(console=console, auto_refresh=False, transient=False) as live:
            try:
                while True:
                    live.update(Text(self.line()), refresh=True)
                    await anyio.sleep(LIVE_REFRESH_S)
            finally:
                live.update(Text(self.line()), refresh=True)

    async def _plain(self, out: TextIO, interval_s: float) -> None:
        try:
            while True:
                out.write(self.line() + "\n")
                out.flush()
                await anyio.sleep(interval_s)
        finally:
            out.write(self.line() + "\n")
            out.flush()
