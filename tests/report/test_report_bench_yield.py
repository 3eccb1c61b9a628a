"""bench/bench_yield.py's logic: the yield ratio, its paired bootstrap, and growing a run that
a stopped bench resumes (scripted teacher and student on loopback, the real sandbox and
store; no model). The real measurement is the benchmark's, never a test's."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import anyio
import pytest
from _pipeline_play import Play

from stepstones.pipeline import read_chains
from stepstones.testing import ScriptedLLMServer

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import bench_yield


def test_ratio_is_adaptive_yield_over_single_turn_yield() -> None:
    pairs = [(2, 3, 0, 3), (1, 3, 1, 3), (0, 2, 0, 3)]
    assert bench_yield.yields(pairs) == (3 / 8, 1 / 9)
    assert bench_yield.ratio(pairs) == pytest.approx((3 / 8) / (1 / 9))
    assert bench_yield.ratio([(1, 3, 0, 3)]) == float("inf")
    assert bench_yield.ratio([(0, 3, 0, 3)]) is None
    assert bench_yield.ratio([]) is None


def test_bootstrap_interval_is_paired_reproducible_and_holds_the_estimate() -> None:
    pairs = [(2, 3, 1, 3), (1, 3, 0, 3), (3, 3, 1, 3), (0, 3, 0, 3), (2, 3, 1, 3)]
    low, high = bench_yield.bootstrap(pairs, resamples=2000, seed=7) or (0.0, 0.0)
    assert low <= bench_yield.ratio(pairs) <= high  # type: ignore[operator]
    assert bench_yield.bootstrap(pairs, resamples=2000, seed=7) == (low, high)
    # Identical seeds leave nothing to resample: the interval is the point.
    same = [(2, 3, 1, 3)] * 6
    assert bench_yield.bootstrap(same, resamples=200) == (2.0, 2.0)
    assert bench_yield.bootstrap([]) is None
    # Single-turn never viable: the upper end is unbounded.
    assert bench_yield.bootstrap([(1, 3, 0, 3), (2, 3, 0, 3)], resamples=200) == (
        float("inf"),
        float("inf"),
    )


def _seed_dir(tmp_path: Path) -> Path:
    src = tmp_path / "seeds"
    src.mkdir()
    body = "\n".join(f"def f{i}(x):\n    y = x * {i}\n    return y + {i}\n" for i in range(40))
    (src / "code.py").write_text(body)
    return src


@pytest.mark.anyio
async def test_a_stopped_bench_resumes_without_repeating_work(tmp_path: Path) -> None:
    # A new problem's pass rate cycles through viable and not viable values.
    play = Play(teacher=["format"], rates=[0.5, 1.0, 0.25, 0.0, 0.75] * 4)
    out = tmp_path / "results"
    async with ScriptedLLMServer(play) as srv:
        argv = [
            "--env=deduction",
            "--seeds=2",
            f"--seed-source={_seed_dir(tmp_path)}",
            f"--out={out}",
            f"--teacher-url={srv.base_url}",
            "--teacher-model=teacher",
            f"--student-url={srv.base_url}",
            "--student-model=student",
        ]
        assert (
            await anyio.to_thread.run_sync(
                bench_yield.main, [*argv, "--stop-after=1", "--no-report"]
            )
            == 0
        )
        first = [c.id for c in read_chains(out / "deduction")]
        assert 1 <= len(first) < 4
        doc = tmp_path / "yield.json"
        assert await anyio.to_thread.run_sync(bench_yield.main, [*argv, f"--json={doc}"]) == 0
    chains = list(read_chains(out / "deduction"))
    ids = [c.id for c in chains]
    assert ids[: len(first)] == first and len(set(ids)) == len(ids) == 4
    # Every teacher call the two runs made is in a stored chain: nothing was asked twice.
    assert len(play.teacher_prompts) == sum(len(c.turns) for c in chains)
    (env,) = json.loads(doc.read_text())["extra"]["envs"]
    assert env["seeds_paired"] == 2
    assert env["calls_per_seed"]["single_turn"] == [3]
    by_mode = {m: [c for c in chains if c.mode == m] for m in ("adaptive", "single_turn")}
    for mode, mine in by_mode.items():
        viable = sum(1 for c in mine for p in c.problems if 0.01 <= (p.pass_rate or 0) <= 0.97)
        calls = sum(len(c.turns) for c in mine)
        assert (env[mode]["viable"], env[mode]["calls"]) == (viable, calls)
        # Every call is accounted for once: rejected, or a problem viable / too easy / too hard.
        ends = env["outcomes"][mode]
        assert sum(ends.values()) == calls and ends.get("viable", 0) == viable
        easy = sum(1 for c in mine for p in c.problems if (p.pass_rate or 0) > 0.97)
        assert ends.get("too_easy", 0) == easy
        assert ends.get("rejected", 0) == sum(1 for c in mine for t in c.turns if t.rejection)
    assert (
        env["rejections"]["adaptive"]["by_kind"].get("format", 0)
        + env["rejections"]["single_turn"]["by_kind"].get("format", 0)
        == 1
    )
    assert (out / "deduction" / "report" / "index.html").is_file()
    assert (out / "summary.json").is_file()
