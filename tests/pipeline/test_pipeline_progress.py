"""The live progress line: counters, yield, histogram, in-place on a TTY, plain lines otherwise."""

from __future__ import annotations

import functools
import io

import anyio
import pytest
import trio
from _pipeline_records import chain
from trio.testing import MockClock

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


def _mock_clock() -> object:
    """anyio on trio with trio's mock clock: sleeps jump ahead instantly, in a fixed order."""
    return pytest.param(("trio", {"clock": MockClock(autojump_threshold=0)}), id="trio-mock-clock")


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", [_mock_clock()])
async def test_plain_lines_every_interval_and_one_at_the_end() -> None:
    plain = io.StringIO()
    progress = Progress(Config(), target=1, clock=trio.current_time)
    async with anyio.create_task_group() as tg:
        tg.start_soon(functools.partial(progress.display, plain, interval_s=10.0))
        await anyio.sleep(35)
        tg.cancel_scope.cancel()
    lines = plain.getvalue().splitlines()
    assert all(line.startswith("chains 0/1 | turns 0") for line in lines), lines
    assert [line.rsplit(" | ", 1)[1] for line in lines] == ["0s", "10s", "20s", "30s", "35s"]
    assert "\x1b" not in plain.getvalue()  # a log gets no terminal control codes


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", [_mock_clock()])
async def test_a_terminal_gets_one_line_redrawn_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # wide enough for the line on one row
    tty = FakeTTY()
    progress = Progress(Config(), target=2, clock=trio.current_time)
    async with anyio.create_task_group() as tg:
        tg.start_soon(progress.display, tty)
        await anyio.sleep(2.1)
        progress.on_chain(chain(1, [0.5]))
        await anyio.sleep(1.0)
        tg.cancel_scope.cancel()
    out = tty.getvalue()
    assert out.count("\n") == 1 and out.rstrip("\x1b[?25h").endswith("\n")  # ends its line
    frames = [f for f in out.split("\r\x1b[2K") if f.strip("\x1b[?25l\n")]
    assert len(frames) >= 12  # redrawn every 0.25 s of (mock) time, in place
    assert frames[0].endswith("| 0s") and "chains 0/2 | turns 0 | viable 0/0" in frames[0]
    assert "chains 1/2" in frames[-1] and frames[-1].rstrip("\n\x1b[?25h").endswith("| 3s")


def test_dumb_terminals_and_pipes_get_plain_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "dumb")
    tty = FakeTTY()

    async def show_once() -> None:
        with anyio.move_on_after(0):
            await Progress(Config(), target=1).display(tty)

    anyio.run(show_once)
    assert tty.getvalue().startswith("chains 0/1")
    assert "\x1b" not in tty.getvalue()
