"""The reward examples as a user runs them: real sandbox, real reward server on loopback.
Every expected reward below was decided by executing (or literally comparing) the answers."""

from __future__ import annotations

import re

import pytest
from _examples_run import run_example


@pytest.mark.anyio
async def test_grade_answers_example() -> None:
    proc = await run_example("grade_answers.py")
    assert proc.returncode == 0, proc.stderr
    rewards = re.findall(r"^  reward (\d) +(\w+)", proc.stdout, re.MULTILINE)
    assert rewards == [
        ("1", "ok"),  # induction: the same ranking
        ("0", "ok"),  # induction: ties broken the other way
        ("0", "format"),  # induction: no answer block
        ("0", "timeout"),  # induction: an infinite loop, stopped by the sandbox
        ("1", "ok"),  # deduction: right output
        ("0", "ok"),  # deduction: wrong output
    ]
    assert "input 2: got ['x', 'y'], expected ['y', 'x']" in proc.stdout
    assert proc.stdout.startswith("sandbox isolation: ")


@pytest.mark.anyio
async def test_reward_server_example() -> None:
    proc = await run_example("reward_server.py", "--workers", "1")
    assert proc.returncode == 0, proc.stderr
    url = re.search(r"^reward server at (http://127\.0\.0\.1:\d+/get_reward)", proc.stdout)
    assert url is not None, proc.stdout
    assert f"(OpenRLHF: --reward.remote_url {url.group(1)})" in proc.stdout
    assert "  right      reward 1.0  outcome pass" in proc.stdout
    assert "  wrong      reward 0.0  outcome wrong" in proc.stdout
    assert "  no answer  reward 0.0  outcome no_answer" in proc.stdout
    assert "  GET /healthz -> 200" in proc.stdout


@pytest.mark.anyio
async def test_trl_reward_callable_example() -> None:
    proc = await run_example("trl_reward_callable.py")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "right           reward 1.00",
        "wrong           reward 0.00",
        "right but long  reward 0.80",
    ]


@pytest.mark.anyio
async def test_verl_compute_score_example() -> None:
    proc = await run_example("verl_compute_score.py")
    assert proc.returncode == 0, proc.stderr
    scores = [line.split("score ")[1].split()[0] for line in proc.stdout.splitlines()]
    assert scores == ["1.0", "0.0", "0.0", "1.0"]
    assert proc.stdout.splitlines()[0].startswith("stepstones/fuzzing/medium ")
