"""`stepstones show`: the best chain of a run, stone by stone, with what the teacher changed."""

from __future__ import annotations

import argparse
from pathlib import Path

import anyio
import pytest
from _pipeline_records import chain

from stepstones.errors import ConfigError
from stepstones.pipeline import Config, Manifest, RunStore
from stepstones.pipeline._showcase import best_chain, chain_score, render_chain, run
from stepstones.records import Chain, Problem, Rejection, Seed, Summary, Turn

SEED = Seed(id="s", text="def g(x):\n    return x\n", source="lib.py", start_line=3, end_line=4)


def _stone(i: int, code: str, rate: float, message: str, instruction: str) -> Turn:
    problem = Problem(
        id=f"p{i}",
        env="induction",
        code=code,
        inputs=("1", "2", "3", "4", "5"),
        outputs=("2", "4", "6", "8", "10"),
        message=message,
        pass_rate=rate,
        n_attempts=4,
    )
    summary = Summary(pass_rate=rate, n_attempts=4, n_passed=round(rate * 4))
    return Turn(index=i, instruction=instruction, problem=problem, summary=summary)


def _grown() -> Chain:
    turns = (
        _stone(0, "def f(x):\n    return x * 2\n", 1.0, "Double it.", "seed"),
        Turn(index=1, instruction="harder", rejection=Rejection(kind="format", reason="No!")),
        _stone(
            2,
            "def f(x):\n    if x > 3:\n        return x * 2\n    return x + x\n",
            0.5,
            "Double it, in two ways.",
            "harder",
        ),
    )
    return Chain(id="grown", seed=SEED, env="induction", mode="adaptive", turns=turns)


def test_best_chain_prefers_distinct_viable_pass_rates() -> None:
    config = Config()
    flat = chain(1, [0.5, 0.5, 0.5])  # three viable stones, one pass rate
    spread = chain(2, [0.25, None, 0.75])  # two viable stones, two pass rates
    dead = chain(3, [None, 0.0, 1.0])  # two stones, none viable
    assert chain_score(flat, config) == (1, 3, 3)
    assert chain_score(spread, config) == (2, 2, 2)
    assert chain_score(dead, config) == (0, 0, 2)
    assert best_chain([flat, dead, spread], config) is spread
    assert best_chain([dead], config) is dead  # stones but none viable: still worth showing
    assert best_chain([chain(4, [None, None])], config) is None


def test_render_shows_each_stone_and_the_changes() -> None:
    text = render_chain(_grown(), Config(), Path("runs/demo"))
    assert "Best chain: induction, adaptive, seed lib.py:3-4" in text
    assert "3 teacher turns: 2 measured problems, 1 rejected" in text
    assert "Stone 1 (turn 1, asked for: seed): 4/4 attempts passed (pass rate 1.00)" in text
    stone2 = "Stone 2 (turn 3, asked for: harder): 2/4 attempts passed (pass rate 0.50), viable"
    assert stone2 in text
    assert "not viable for RL" in text  # stone 1: pass rate 1
    assert "    Double it, in two ways." in text
    assert "f(1) == 2" in text and "... and 2 more" in text
    # The diff between the stones: f and the message, before -> after.
    assert "--- f (before)" in text and "+++ f (after)" in text
    assert "-    return x * 2" in text and "+    if x > 3:" in text
    assert "-Double it." in text and "+Double it, in two ways." in text
    assert text.index("Stone 1") < text.index("What the teacher changed") < text.index("Stone 2")
    assert "stepstones stats runs/demo" in text
    assert "stepstones export runs/demo --format trl --out runs/demo/trl.jsonl" in text


def _store(run_dir: Path, chains: list[Chain]) -> None:
    manifest = Manifest(config=Config(), modes=("adaptive",), envs=("induction",))

    async def write() -> None:
        with RunStore.open(run_dir, manifest) as store:
            for c in chains:
                await store.append(c)

    anyio.run(write)


def test_run_prints_the_best_chain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _store(tmp_path / "run", [chain(1, [None, None]), _grown()])
    assert run(argparse.Namespace(run_dir=tmp_path / "run")) == 0
    out = capsys.readouterr().out
    assert out.startswith("-" * 72 + "\nBest chain: induction")


def test_run_without_stones_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _store(tmp_path / "run", [chain(1, [None, None])])
    assert run(argparse.Namespace(run_dir=tmp_path / "run")) == 1
    out = capsys.readouterr().out
    assert "No chain in" in out and "1 chains, every teacher turn rejected" in out
    assert "stepstones stats" in out
    _store(tmp_path / "empty", [])
    assert run(argparse.Namespace(run_dir=tmp_path / "empty")) == 1
    assert "(no chain was finished)" in capsys.readouterr().out


def test_not_a_run_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not a run directory"):
        run(argparse.Namespace(run_dir=tmp_path))
