"""examples/generate_chain.py as a user runs it, against the scripted server on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest
from _examples_run import Deduction, run_example

from stepstones.records import Chain, decode_json
from stepstones.testing import ScriptedLLMServer


@pytest.mark.anyio
async def test_generate_chain_example(tmp_path: Path) -> None:
    out = tmp_path / "chain.json"
    play = Deduction()
    async with ScriptedLLMServer(play) as srv:
        proc = await run_example(
            "generate_chain.py", "--base-url", srv.base_url, "--model", "scripted",
            "--env", "deduction", "--samples", "4", "--max-turns", "3", "--out", str(out),
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].endswith(": 3 turns in deduction (adaptive)")
    assert lines[1] == "  turn 0 seed: pass rate 0.50 over 4 attempts  def f(x):"
    assert lines[2].startswith("  turn 1 ") and "pass rate 0.50 over 4 attempts" in lines[2]
    assert "3 of 3 problems are viable for RL (0.01 <= p <= 0.97)" in proc.stdout
    chain = decode_json(out.read_bytes().strip(), Chain)
    assert [p.pass_rate for p in chain.problems] == [0.5, 0.5, 0.5]
    assert play.teacher_calls == play.student_calls == 3
