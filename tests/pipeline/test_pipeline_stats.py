"""Yield per mode and per turn, histograms and bands; the `stepstones stats` command."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest
from _pipeline_records import chain

from stepstones.cli import main
from stepstones.pipeline import Config, Manifest, RunStore, compute_stats, histogram
from stepstones.records import Chain, Rejection


def test_histogram_bins() -> None:
    assert histogram([0.0, 0.05, 0.1, 0.55, 1.0, 0.99]) == [2, 1, 0, 0, 0, 1, 0, 0, 0, 2]
    assert histogram([], bins=4) == [0, 0, 0, 0]


def test_yield_per_mode_and_turn() -> None:
    chains = [
        chain(1, [1.0, None, 0.5, 0.1], "adaptive"),  # viable: 0.5, 0.1 -> 2 of 4 turns
        chain(2, [0.85, 0.5], "adaptive"),  # viable: both -> 2 of 2
        chain(1, [1.0, 0.0, None, 1.0], "single_turn"),  # viable: none of 4
        chain(2, [0.5, 1.0, 1.0, 1.0], "single_turn"),  # viable: 1 of 4
    ]
    stats = compute_stats(chains, Config())
    by_mode = {s.mode: s for s in stats.by_mode}
    adaptive, single = by_mode["adaptive"], by_mode["single_turn"]
    assert (adaptive.turns, adaptive.measured, adaptive.viable) == (6, 5, 4)
    assert adaptive.viable_yield == pytest.approx(4 / 6)
    assert (single.turns, single.viable) == (8, 1)
    assert adaptive.rejections == {"format": 1}
    assert [(t.index, t.turns, t.viable) for t in adaptive.per_turn] == [
        (0, 2, 1),
        (1, 2, 1),
        (2, 1, 1),
        (3, 1, 1),
    ]
    # 0.1 is in the hard band, 0.5 medium, 0.85 easy: chain 1 lacks easy, chain 2 lacks hard.
    assert adaptive.bands == {"hard": 1, "medium": 2, "easy": 1}
    assert adaptive.complete_chains == 0
    # The paper's broad bins: 0.85 easy, 0.5 and 0.5 medium, 0.1 hard.
    assert adaptive.difficulty["broad"] == {"easy": 1, "easy_medium": 0, "medium": 2, "hard": 1}
    assert sum(adaptive.histogram) == adaptive.measured
    assert adaptive.completion_tokens == 5 * (6 + 5)


@pytest.mark.anyio
async def test_stats_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    with RunStore.open(run, Manifest(config=Config())) as store:
        await store.append(chain(1, [1.0, 0.5, 0.1, 0.85], "adaptive"))
        await store.append(chain(1, [1.0, 1.0, 0.5, 1.0], "single_turn"))
    out_json = tmp_path / "stats.json"
    assert main(["stats", str(run), "--json", str(out_json)]) == 0
    text = capsys.readouterr().out
    assert "all / adaptive: 1 chains, 4 turns, 4 measured, 3 viable -> yield 75.0%" in text
    assert "complete chains (every band): 1/1" in text
    assert "broad bins:  easy 1  easy_medium 0  medium 1  hard 1" in text
    assert "adaptive yield / single_turn yield: 3.00x" in text
    data = json.loads(out_json.read_text())
    assert data["chains"] == 2
    assert {m["mode"] for m in data["by_mode"]} == {"adaptive", "single_turn"}


def test_stats_of_a_directory_without_chains(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["stats", str(tmp_path)]) == 1
    assert "no chains.jsonl" in capsys.readouterr().err


def _rejected(n: int, reasons: list[tuple[str, str]]) -> Chain:
    """A chain whose turns were all rejected, with these (kind, reason)s."""
    base = chain(n, [None] * len(reasons))
    turns = tuple(
        msgspec.structs.replace(t, rejection=Rejection(kind=kind, reason=reason))  # type: ignore[arg-type]
        for t, (kind, reason) in zip(base.turns, reasons, strict=True)
    )
    return msgspec.structs.replace(base, turns=turns)


@pytest.mark.anyio
async def test_stats_shows_the_most_common_rejection_reasons_with_an_example(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with RunStore.open(tmp_path, Manifest(config=Config())) as store:
        await store.append(
            _rejected(
                1,
                [
                    ("format", "Found 3 ```input blocks, need 5!"),
                    ("format", "Found 4 ```input blocks, need 5!"),
                    ("format", "No message found! Add a ```message block."),
                    ("banned", "The code imports 'random'."),
                ],
            )
        )
    assert main(["stats", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "rejections:  banned 1  format 3" in text
    lines = text.splitlines()
    top = lines.index(next(line for line in lines if "rejections:" in line)) + 1
    # Most common first; counts and numbers vary, the pattern groups them; one real example.
    assert lines[top].split() == ["2", "x", "format:", "Found", "N", "```input", "blocks,",
                                  "need", "N!", "e.g.", "'Found", "3", "```input", "blocks,",
                                  "need", "5!'"]  # fmt: skip
    assert "1 x banned: The code imports '…'.  e.g. \"The code imports 'random'.\"" in text
    assert "1 x format: No message found! Add a ```message block." in text
    assert (
        f"every rejected turn, with its reason and draft: {tmp_path / 'rejections.jsonl'}" in text
    )


@pytest.mark.anyio
async def test_stats_json_never_writes_into_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tmp_path / "run"
    with RunStore.open(run, Manifest(config=Config())) as store:
        await store.append(chain(1, [0.5], "adaptive"))
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    for target in (run / "chains.jsonl", run, run / "new.json", tmp_path):
        assert main(["stats", str(run), "--json", str(target)]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err, err
        assert "inside the run directory" in err or "is a directory" in err
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before  # nothing touched
    monkeypatch.chdir(tmp_path)
    assert main(["stats", str(run), "--json", "-"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["chains"] == 1  # stdout is the JSON alone
    assert "1 chains" in err  # the report went to stderr
    assert not (tmp_path / "-").exists()
