"""The live schedule and its trainer faces: new stones first, the band kept, nobody starved,
state checkpointed; the pool's crash safety; OpenRLHF's regenerated stage, verl's frame and
TRL's iterable dataset (the real ``datasets`` class)."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from stepstones import records
from stepstones.dataset._export import write
from stepstones.errors import StoreError
from stepstones.online import LiveFrame, LivePool, LiveSchedule, Stone, Try, next_stage, read_stones
from stepstones.online.trl import STATE_FILE, LiveTRL
from stepstones.records import Problem
from stepstones.sandbox import Sandbox
from stepstones.serve import Verdict
from stepstones.serve._ledger import Ledger, ledger_dir


@pytest.fixture(scope="module")
def stones(sandbox: Sandbox, base: dict[str, Problem]) -> dict[str, Problem]:
    import anyio
    from _online_play import validated

    made = anyio.run(validated, sandbox, "harder", "easier")
    return {
        "harder": msgspec.structs.replace(made["harder"], parent_id=base["easy"].id, pass_rate=0.5),
        "easier": msgspec.structs.replace(made["easier"], parent_id=base["hard"].id, pass_rate=0.5),
    }


def _stone(problem: Problem, parent: Problem, instruction: str, viable: bool = True) -> Stone:
    return Stone(
        id=problem.id,
        problem=problem,
        parent_id=parent.id,
        instruction=instruction,  # type: ignore[arg-type]
        root_id=parent.id,
        chain=(parent.id,),
        parent_pass_rate=1.0 if instruction == "harder" else 0.0,
        parent_rollouts=4,
        viable=viable,
        t=1.0,
    )


def _record(run_dir: Path, problem: Problem, passed: list[bool]) -> None:
    ledger = Ledger(ledger_dir(run_dir), window=4)
    try:
        verdicts = [Verdict(float(p), "pass" if p else "wrong", "") for p in passed]
        ledger.record([(problem, range(len(passed)))], ["x"] * len(passed), verdicts)
    finally:
        ledger.close()


def test_new_stones_first_then_the_band_and_nobody_starves(
    base: dict[str, Problem], stones: dict[str, Problem], tmp_path: Path
) -> None:
    easy, hard = base["easy"], base["hard"]
    schedule = LiveSchedule(tmp_path, [easy, hard], window=4, max_gap_factor=2)
    assert [p.id for p in schedule.take(4)] == [easy.id, hard.id, easy.id, hard.id]
    _record(tmp_path, easy, [True] * 4)  # the policy outgrew easy
    _record(tmp_path, hard, [False] * 4)  # and cannot touch hard
    with LivePool(tmp_path) as pool:
        pool.add(_stone(stones["harder"], easy, "harder"), Try(parent_id=easy.id,
                 instruction="harder", outcome="stone"))  # fmt: skip
    assert schedule.refresh() == 1
    drawn = [p.id for p in schedule.take(12)]
    # The new stone first; then only in-band/warming problems (the stone), until an
    # out-of-band one has waited max_gap = 2 passes x 3 problems = 6 draws: then it is drawn
    # again, so its live pass rate stays current.
    s, e, h = stones["harder"].id, easy.id, hard.id
    assert schedule.max_gap == 6
    assert drawn == [s, s, s, s, e, h, s, s, s, s, e, h]


def test_the_state_round_trips_and_the_draws_go_on_identically(
    base: dict[str, Problem], stones: dict[str, Problem], tmp_path: Path
) -> None:
    easy, hard = base["easy"], base["hard"]
    with LivePool(tmp_path) as pool:
        pool.add(_stone(stones["easier"], hard, "easier"), Try(parent_id=hard.id,
                 instruction="easier", outcome="stone"))  # fmt: skip
        pool.add(_stone(stones["harder"], easy, "harder", viable=False), Try(parent_id=easy.id,
                 instruction="harder", outcome="stone"))  # fmt: skip
    one = LiveSchedule(tmp_path, [easy, hard], window=4)
    assert stones["harder"].id not in one.problems  # not viable: never drawn
    one.take(5)
    state = json.loads(json.dumps(one.state_dict()))  # what a checkpoint holds
    two = LiveSchedule(tmp_path, [easy, hard], window=4)
    two.load_state_dict(state)
    assert [p.id for p in one.take(9)] == [p.id for p in two.take(9)]


def test_the_pool_survives_a_torn_line_and_admits_one_writer(
    base: dict[str, Problem], stones: dict[str, Problem], tmp_path: Path
) -> None:
    easy = base["easy"]
    pool = LivePool(tmp_path)
    pool.add(_stone(stones["harder"], easy, "harder"), Try(parent_id=easy.id,
             instruction="harder", outcome="stone"))  # fmt: skip
    with pytest.raises(StoreError, match="another online teacher"):
        LivePool(tmp_path)
    pool.close()
    path = tmp_path / "online" / "pool.jsonl"
    with path.open("ab") as f:
        f.write(b'{"id": "torn')  # killed mid-write
    assert [s.id for s in read_stones(tmp_path)] == [stones["harder"].id]  # readers skip it
    with LivePool(tmp_path) as again:  # the next teacher cuts it and carries on
        assert list(again.stones) == [stones["harder"].id] and len(again.tries) == 1
    assert path.read_bytes().endswith(b"\n")


def test_openrlhf_next_stage_is_regenerated_from_the_pool(
    base: dict[str, Problem], stones: dict[str, Problem], tmp_path: Path
) -> None:
    easy, hard = base["easy"], base["hard"]
    stage_in, stage_out = tmp_path / "stage_02.jsonl", tmp_path / "stage_02.live.jsonl"
    write("openrlhf", [("easy", easy), ("hard", hard)] * 3, stage_in, prompt_for=_prompt)
    _record(tmp_path, easy, [True] * 4)
    with LivePool(tmp_path) as pool:
        pool.add(_stone(stones["harder"], easy, "harder"), Try(parent_id=easy.id,
                 instruction="harder", outcome="stone"))  # fmt: skip
    counts = next_stage(tmp_path, stage_in, stage_out, window=4)
    rows = [json.loads(line) for line in stage_out.read_text().splitlines()]
    assert counts["prompts"] == len(rows) == 6 and counts["stones"] >= 1
    first = records.decode_json(rows[0]["label"], Problem)
    assert first.id == stones["harder"].id and rows[0]["datasource"].endswith("/live")
    assert (tmp_path / "online" / "stage_state.json").exists()


def _prompt(problem: Problem) -> list[records.Message]:
    return [records.Message("user", f"solve {problem.message}")]


def test_verl_frame_rows_have_the_export_shape(
    base: dict[str, Problem], stones: dict[str, Problem], tmp_path: Path
) -> None:
    from stepstones.dataset._export import rows

    easy, hard = base["easy"], base["hard"]
    exported = rows("verl", [("easy", easy), ("hard", hard)], prompt_for=_prompt)
    with LivePool(tmp_path) as pool:
        pool.add(_stone(stones["easier"], hard, "easier"), Try(parent_id=hard.id,
                 instruction="easier", outcome="stone"))  # fmt: skip
    frame = LiveFrame.from_rows(str(tmp_path), exported, window=4)
    frame.prompt_for = _prompt
    assert len(frame) == 2
    row = frame[0]
    assert set(row) == set(exported[0])
    assert row["extra_info"]["problem_id"] == stones["easier"].id
    assert row["extra_info"]["bin"] == "live" and row["data_source"].endswith("/live")
    state = frame.state_dict()
    frame.load_state_dict(state)
    assert frame[1]["extra_info"]["index"] == 1


def test_trl_iterable_dataset_streams_the_schedule_and_resumes(
    base: dict[str, Problem], stones: dict[str, Problem], tmp_path: Path
) -> None:
    easy, hard = base["easy"], base["hard"]
    live = LiveTRL(tmp_path, [easy, hard], window=4, refresh_every=1, prompt_for=_prompt)
    dataset = live.dataset()
    import datasets

    assert isinstance(dataset, datasets.IterableDataset)
    stream = iter(dataset)
    first = [next(stream)["problem_id"] for _ in range(2)]
    assert first == [easy.id, hard.id]
    with LivePool(tmp_path) as pool:
        pool.add(_stone(stones["harder"], easy, "harder"), Try(parent_id=easy.id,
                 instruction="harder", outcome="stone"))  # fmt: skip
    row = next(stream)
    assert row["problem_id"] == stones["harder"].id and row["bin"] == "live"
    assert set(row) == {"prompt", "label", "env", "bin", "problem_id"}
    checkpoint = tmp_path / "checkpoint-3"
    live.save(checkpoint)
    assert (checkpoint / STATE_FILE).exists()
    resumed = LiveTRL(tmp_path, [easy, hard], window=4, prompt_for=_prompt, resume_from=checkpoint)
    expect = [next(stream)["problem_id"] for _ in range(4)]
    assert [resumed.schedule.next().id for _ in range(4)] == expect


def test_next_stage_from_the_command_line_and_bad_input_in_one_sentence(
    base: dict[str, Problem], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from stepstones.cli import main

    stage_in, stage_out = tmp_path / "stage_01.jsonl", tmp_path / "stage_01.live.jsonl"
    write(
        "openrlhf", [("easy", base["easy"]), ("hard", base["hard"])], stage_in, prompt_for=_prompt
    )
    assert main(["online", str(tmp_path), "--next-stage", str(stage_in), "--out", str(stage_out),
                 "--prompts", "3"]) == 0  # fmt: skip
    printed = json.loads(capsys.readouterr().out)
    assert printed["prompts"] == 3 and printed["stones"] == 0
    assert len(stage_out.read_text().splitlines()) == 3
    assert main(["online", str(tmp_path / "nowhere")]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert main(["online", str(tmp_path), "--next-stage", str(stage_in)]) == 1
    assert "--out" in capsys.readouterr().err
