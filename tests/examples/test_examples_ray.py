"""The Ray examples as a user runs them, each on a private local Ray cluster it starts itself
(``--ray local``), with the scripted server on loopback where an LLM is needed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from _examples_run import Deduction, run_example

from stepstones.pipeline import read_chains
from stepstones.testing import ScriptedLLMServer

pytest.importorskip("ray", reason="needs the Ray extra: pip install 'stepstones[ray]'")
pytestmark = pytest.mark.timeout(240)


@pytest.mark.anyio
async def test_ray_generate_example(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    body = "\n".join(f"def g{i}(x):\n    y = x * {i}\n    return y - {i}\n" for i in range(40))
    (seeds / "code.py").write_text(body)
    out = tmp_path / "run"
    async with ScriptedLLMServer(Deduction()) as srv:
        proc = await run_example(
            "ray_generate.py", "--ray", "local", "--local-cpus", "2",
            "--base-url", srv.base_url, "--model", "scripted", "--seeds", str(seeds),
            "--env", "deduction", "--out", str(out), "--chains", "4", "--actors", "2",
            "--in-flight", "2", "--cpus-per-actor", "0.5", "--samples", "4", "--max-turns", "2",
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert len(re.findall(r"^stored chain [0-9a-f]{16} \(2 turns\)$", proc.stdout, re.M)) == 4
    assert "4 new chains, 0 already stored, 0 failed, 0 actor restarts; 4 chains in" in proc.stdout
    assert "adaptive: 8 viable of 8 measured problems" in proc.stdout
    ids = [c.id for c in read_chains(out)]
    assert len(ids) == len(set(ids)) == 4


@pytest.mark.anyio
async def test_ray_generate_example_stops_before_ray_when_the_model_is_wrong(
    tmp_path: Path,
) -> None:
    async with ScriptedLLMServer(Deduction(), models=["scripted"]) as srv:
        proc = await run_example(
            "ray_generate.py", "--base-url", srv.base_url, "--model", "qwen-typo",
            "--out", str(tmp_path / "run"),
        )  # fmt: skip
    assert proc.returncode == 1
    assert "ConfigError: model 'qwen-typo' is not served at" in proc.stderr
    assert "Started a local Ray instance" not in proc.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.anyio
async def test_ray_reward_replicas_example(tmp_path: Path) -> None:
    urls_file = tmp_path / "urls.txt"
    proc = await run_example(
        "ray_reward_replicas.py", "--ray", "local", "--local-cpus", "2",
        "--cpus-per-replica", "0.5", "--urls-file", str(urls_file),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    remote = urls_file.read_text().strip()
    assert re.fullmatch(r"http://[\d.]+:\d+/get_reward", remote), remote  # one node: one URL
    assert f"--reward.remote_url {remote}" in proc.stdout
    assert f"{remote} -> rewards [1.0]" in proc.stdout
