"""`stepstones generate` killed with SIGKILL (or stopped with SIGINT) and run again.

The scripted teacher/student server runs on loopback in this test process; the generator is a
real subprocess with the real sandbox. After a kill -9 at an arbitrary moment, a second run
must complete the run directory with every finished chain kept and none stored twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from _pipeline_play import Play

from stepstones.pipeline import read_chains, read_rejections
from stepstones.pipeline._store import CHAINS_FILE
from stepstones.testing import ScriptedLLMServer

CHAINS = 6


def seed_dir(tmp_path: Path) -> Path:
    src = tmp_path / "seeds"
    src.mkdir()
    body = "\n".join(f"def f{i}(x):\n    y = x * {i}\n    return y + {i}\n" for i in range(40))
    (src / "code.py").write_text(body)
    return src


def command(url: str, out: Path, seeds: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "stepstones.cli",
        "generate",
        "--out",
        str(out),
        "--seeds",
        str(seeds),
        "--env",
        "deduction",
        "--teacher-url",
        url,
        "--teacher-model",
        "teacher",
        "--student-url",
        url,
        "--student-model",
        "student",
        "--chains",
        str(CHAINS),
        "--samples",
        "4",
        "--max-turns",
        "3",
        "--concurrency",
        "2",
        "--sandbox-workers",
        "1",
        "--progress-interval",
        "0.5",
    ]


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("STEPSTONES_", "OPENAI_"))}


def lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


async def start_and_signal(cmd: list[str], out: Path, sig: int, after_chains: int) -> int:
    """Start the generator; send ``sig`` once ``after_chains`` chains are stored; its status."""
    async with await anyio.open_process(
        cmd, env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    ) as proc:
        with anyio.fail_after(240):
            # Polls a file another process writes: no event to wait on.
            while True:
                if lines(out / CHAINS_FILE) >= after_chains or proc.returncode is not None:
                    break
                await anyio.sleep(0.05)
        proc.send_signal(sig)
        with anyio.fail_after(120):
            return await proc.wait()


async def run_to_end(cmd: list[str]) -> tuple[int, str]:
    with anyio.fail_after(240):
        done = await anyio.run_process(cmd, env=clean_env(), check=False)
    return done.returncode, done.stderr.decode()


def check_run(out: Path) -> None:
    chains = list(read_chains(out))
    ids = [c.id for c in chains]
    assert len(ids) == len(set(ids)) == CHAINS
    assert len({c.seed.id for c in chains}) == CHAINS
    for chain in chains:
        assert 1 <= len(chain.turns) <= 3
        assert [t.index for t in chain.turns] == list(range(len(chain.turns)))
    entries = [(e.chain_id, e.turn) for e in read_rejections(out)]
    assert len(entries) == len(set(entries))
    expected = {(c.id, t.index) for c in chains for t in c.turns if t.rejection is not None}
    assert set(entries) == expected
    assert (out / CHAINS_FILE).read_bytes().endswith(b"\n")


@pytest.mark.anyio
@pytest.mark.timeout(600)
async def test_sigkill_then_resume_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    out = tmp_path / "run"
    # Every fourth teacher reply is unparseable, so rejections are stored too.
    play = Play(
        teacher=["ok", "ok", "ok", "format"] * 20, rates=[1.0, 0.0, 0.5], student_delay_s=0.1
    )
    seeds = seed_dir(tmp_path)
    async with ScriptedLLMServer(play) as srv:
        cmd = command(srv.base_url, out, seeds)
        status = await start_and_signal(cmd, out, signal.SIGKILL, after_chains=2)
        assert status == -signal.SIGKILL
        before = (out / CHAINS_FILE).read_bytes()
        kept = before[: before.rfind(b"\n") + 1]
        assert kept.count(b"\n") >= 2
        code, err = await run_to_end(cmd)
        assert code == 0, err
    assert (out / CHAINS_FILE).read_bytes().startswith(kept)  # nothing finished was lost
    assert "already there" in err
    check_run(out)
    # A third run finds everything done and changes nothing.
    snapshot = (out / CHAINS_FILE).read_bytes()
    async with ScriptedLLMServer(Play()) as srv:
        code, err = await run_to_end(command(srv.base_url, out, seeds))
    assert code == 0, err
    assert (out / CHAINS_FILE).read_bytes() == snapshot


@pytest.mark.anyio
@pytest.mark.timeout(600)
async def test_sigint_finishes_chains_in_flight(tmp_path: Path) -> None:
    out = tmp_path / "run"
    play = Play(rates=[0.5], student_delay_s=0.3)
    async with ScriptedLLMServer(play) as srv:
        cmd = command(srv.base_url, out, seed_dir(tmp_path))
        status = await start_and_signal(cmd, out, signal.SIGINT, after_chains=1)
    assert status == 130
    chains = list(read_chains(out))
    assert 1 <= len(chains) < CHAINS
    assert all(len(c.turns) == 3 for c in chains)  # stored chains are whole
