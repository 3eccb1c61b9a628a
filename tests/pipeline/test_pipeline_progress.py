"""The live progress line: counters, yield, histogram, in-place on a TTY, plain lines otherwise."""

from __future__ import annotations

import io

import anyio
import pytest
from _pipeline_records import chain

from stepstones.pipeline import Config
from stepstones.pipeline._progress import Progress, sparkline


def test_sparkline() -> None:
    assert sparkline([0, 0, 0]) == "···"
    assert sparkline([0, 4, 8]) == " ▄█"


def test_counts_from_turns_and_chains() -> None:
    progress = Progress(Config(), target=10, already=3)
    c = chain(1, [1.0, None, 0.5])
    for turn in c.turns:
        progress.on_turn(turn)
    progress.on_chain(c)
    progress.on_error()
    line = progress.line()
    assert "chains 4/10" in line
    assert "turns 3" in line
    assert "viable 1/2 (yield 33%)" in line
    assert "rejected 1 (llm 0)" in line
    assert "errors 1" in line
    assert "tok/s" in line


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.anyio
async def test_display_redraws_in_place_on_a_tty_and_prints_lines_otherwise() -> None:
    tty, plain = FakeTTY(), io.StringIO()
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: Progress(Config(), target=1).display(tty))
        tg.start_soon(lambda: Progress(Config(), target=1).display(plain, interval_s=0.2))
        await anyio.sleep(0.6)
        tg.cancel_scope.cancel()
    assert tty.getvalue().startswith("\r\x1b[2K")
    assert tty.getvalue().endswith("\n")
    assert tty.getvalue().count("\n") == 1  # one line, redrawn
    lines = plain.getvalue().splitlines()
    assert 3 <= len(lines) <= 6
    assert all(line.startswith("chains 0/1") for line in lines)
