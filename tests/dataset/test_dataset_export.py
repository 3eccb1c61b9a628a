"""Exports for OpenRLHF (JSONL), verl (Parquet) and TRL (JSONL), read back by their consumers,
and reading problems out of a chain store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _dataset_problems import make_problem

from stepstones import envs, records
from stepstones.dataset import datasource, iter_problems, read_problems, write
from stepstones.errors import RecordError, StoreError
from stepstones.records import Chain, Problem, Seed, Turn


def _items() -> list[tuple[str | None, Problem]]:
    return [
        ("easy", make_problem(1, 0.9)),
        ("hard", make_problem(2, 0.1, "induction")),
        (None, make_problem(3, 0.5, "abduction")),
    ]


def _messages(p: Problem) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in envs.get(p.env).student_prompt(p)]


def test_openrlhf_jsonl_round_trips(tmp_path: Path) -> None:
    out = tmp_path / "train.jsonl"
    assert write("openrlhf", _items(), out) == 3
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    for row, (bin_name, prob) in zip(rows, _items(), strict=True):
        assert set(row) == {"prompt", "label", "datasource"}
        assert row["prompt"] == _messages(prob)
        assert isinstance(row["label"], str)
        assert records.decode_json(row["label"], Problem) == prob
        assert row["datasource"] == datasource(prob, bin_name)
    assert rows[0]["datasource"] == "stepstones/deduction/easy"
    assert rows[2]["datasource"] == "stepstones/abduction/all"
    assert not list(tmp_path.glob("*.tmp"))


def test_verl_parquet_is_read_by_pyarrow_and_datasets(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "train.parquet"
    write("verl", _items(), out, split="test")
    table = pq.read_table(out)
    assert set(table.column_names) == {
        "data_source",
        "prompt",
        "ability",
        "reward_model",
        "extra_info",
    }
    rows = table.to_pylist()
    for i, (row, (bin_name, prob)) in enumerate(zip(rows, _items(), strict=True)):
        assert row["data_source"] == datasource(prob, bin_name)
        assert row["prompt"] == _messages(prob)
        assert row["ability"] == "code"
        assert row["reward_model"]["style"] == "rule"
        assert records.decode_json(row["reward_model"]["ground_truth"], Problem) == prob
        assert row["extra_info"]["index"] == i
        assert row["extra_info"]["split"] == "test"
        assert row["extra_info"]["problem_id"] == prob.id
    datasets = pytest.importorskip("datasets")
    ds = datasets.load_dataset("parquet", data_files=str(out), split="train")
    assert ds[1]["reward_model"]["ground_truth"] == rows[1]["reward_model"]["ground_truth"]


def test_trl_jsonl_is_loaded_by_datasets(tmp_path: Path) -> None:
    out = tmp_path / "trl.jsonl"
    write("trl", _items(), out)
    datasets = pytest.importorskip("datasets")
    ds = datasets.load_dataset("json", data_files=str(out), split="train")
    assert ds.column_names == ["prompt", "label", "env", "bin", "problem_id"]
    assert ds[0]["prompt"] == _messages(_items()[0][1])
    assert records.decode_json(ds[1]["label"], Problem) == _items()[1][1]
    assert ds[2]["bin"] == ""


def _chain(probs: list[Problem]) -> Chain:
    seed = Seed(id="s1", text="x = 1\n", source="t.py", start_line=1, end_line=1)
    turns = [Turn(index=0, instruction="seed")]  # a rejected turn: no problem
    turns += [Turn(index=i + 1, instruction="harder", problem=p) for i, p in enumerate(probs)]
    return Chain(id="c1", seed=seed, env="deduction", mode="adaptive", turns=tuple(turns))


def test_read_problems_from_chains_problems_and_bare_records(tmp_path: Path) -> None:
    a, b, c = make_problem(1, 0.9), make_problem(2, 0.5), make_problem(3, 0.1)
    run = tmp_path / "run"
    run.mkdir()
    (run / "chains.jsonl").write_bytes(
        records.encode_json(_chain([a, b])) + b"\n\n" + records.encode_json(_chain([c])) + b"\n"
    )
    assert read_problems(run) == [a, b, c]
    mixed = tmp_path / "problems.jsonl"
    remeasured = make_problem(1, 0.4)
    mixed.write_bytes(
        records.encode_json(a)
        + b"\n"
        + json.dumps(json.loads(records.encode_json(b))["record"]).encode()
        + b"\n"
        + records.encode_json(remeasured)
        + b"\n"
    )
    assert [p.id for p in iter_problems(mixed)] == [a.id, b.id, a.id]
    assert read_problems(mixed) == [remeasured, b]  # last measurement wins, first position kept


def test_bad_store_input_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(records.encode_json(make_problem(1, 0.5)) + b"\n{not json\n")
    with pytest.raises(RecordError, match=r"bad.jsonl:2"):
        read_problems(bad)
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_bytes(
        records.encode_json(Seed(id="s", text="x", source="f", start_line=1, end_line=1)) + b"\n"
    )
    with pytest.raises(RecordError, match="expected chain or problem"):
        read_problems(seeds)
    with pytest.raises(StoreError, match=r"chains\.jsonl"):
        read_problems(tmp_path / "nowhere")
