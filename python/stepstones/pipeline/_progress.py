"""The live progress line of ``stepstones generate``, on stderr.

On a terminal the line is redrawn in place a few times a second; otherwise (a log file, CI) a
plain line is written every ``interval_s`` seconds, so logs stay readable.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

import anyio

from stepstones.pipeline._config import Config
from stepstones.pipeline._stats import histogram
from stepstones.records import Chain, Turn

__all__ = ["Progress"]

_BARS = " ▁▂▃▄▅▆▇█"


def sparkline(counts: list[int]) -> str:
    """One character per bin, its height proportional to the count."""
    top = max(counts, default=0)
    if top == 0:
        return "·" * len(counts)
    return "".join(_BARS[round(c / top * (len(_BARS) - 1))] for c in counts)


class Progress:
    """Counters fed by the runner (``on_turn``/``on_chain``/``on_error``) and their rendering."""

    def __init__(self, config: Config, *, target: int, already: int = 0) -> None:
        self.config = config
        self.target = target
        self.already = already  # chains stored by an earlier, resumed run
        self.started = time.monotonic()
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
        elapsed = max(1e-9, time.monotonic() - self.started)
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
        """Refresh the line until cancelled; in place on a TTY, periodic plain lines otherwise."""
        out = stream if stream is not None else sys.stderr
        tty = out.isatty()
        try:
            while True:
                self.draw(out, tty=tty)
                await anyio.sleep(0.25 if tty else interval_s)
        finally:
            self.draw(out, tty=tty, final=True)

    def draw(self, out: TextIO, *, tty: bool, final: bool = False) -> None:
        if tty:
            out.write("\r\x1b[2K" + self.line() + ("\n" if final else ""))
        else:
            out.write(self.line() + "\n")
        out.flush()
