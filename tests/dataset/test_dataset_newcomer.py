"""What `export` and `curriculum` do with a small run, as a new user meets them: stages that
would repeat a handful of problems, file names the trainer cannot read, nothing left to write,
directories reused, and --help that says what every option does and its default."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from _dataset_problems import make_problem

from stepstones import cli, records
from stepstones.dataset import SCHEDULES, materialise
from stepstones.errors import ExportError
from stepstones.records import Env


def _run(tmp_path: Path, rates: list[float | None], env: Env = "deduction") -> Path:
    path = tmp_path / "problems.jsonl"
    path.write_bytes(
        b"".join(records.encode_json(make_problem(k, r, env)) + b"\n" for k, r in enumerate(rates))
    )
    return path


def _err_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1, err
    return err


# -- curriculum: a stage is a sample of distinct problems ----------------------------------


def test_the_readme_curriculum_on_two_problems_is_refused_with_the_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _run(tmp_path, [0.5, 0.7])  # one medium, one easy_medium problem
    out = tmp_path / "msr"
    argv = ["curriculum", str(src), "--schedule", "medium_start_reverse", "--total-steps",
            "2000", "--prompts-per-step", "128", "--out", str(out)]  # fmt: skip
    assert cli.main(argv) == 1
    err = _err_line(capsys)
    assert "stage 1 of schedule 'medium_start_reverse' asks for 112,000 medium prompts" in err
    assert "only 1 medium problems pass the filters: 112,000.0 epochs" in err
    assert "limit of 4 (that needs 28,000 problems)" in err and "--allow-repeats" in err
    assert not out.exists()  # nothing written
    # Without --total-steps the paper's 40K steps: refused as well, not 5 GB of one problem.
    argv = ["curriculum", str(src), "--schedule", "medium_only", "--out", str(out)]
    assert cli.main(argv) == 1
    assert "asks for 5,120,000 medium prompts" in _err_line(capsys)
    assert not out.exists()


def test_repeats_within_the_limit_are_said_and_allowed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _run(tmp_path, [0.5, 0.45, 0.4])  # three medium problems
    out = tmp_path / "c"
    argv = ["curriculum", str(src), "--schedule", "medium_only", "--total-steps", "2",
            "--prompts-per-step", "5", "--out", str(out)]  # fmt: skip
    assert cli.main(argv) == 0
    err = capsys.readouterr().err
    assert "writing 1 stages, 10 rows (about " in err
    assert "stage 1: medium 10 prompts from 3 problems (3.3 epochs)" in err
    rows = [json.loads(line) for line in (out / "stage_01.jsonl").read_text().splitlines()]
    assert len(rows) == 10


def test_a_stage_with_enough_problems_repeats_none() -> None:
    pools = {"medium": [make_problem(k, 0.5) for k in range(100)]}
    (stage,) = materialise(SCHEDULES["medium_only"].scaled(1), pools, prompts_per_step=64)
    uses = Counter(p.id for _, p in stage.items)
    assert len(uses) == 64 and set(uses.values()) == {1}
    assert stage.distinct == {"medium": 64}
    with pytest.raises(ExportError, match=r"128 medium prompts .* 1\.3 epochs .* limit of 1"):
        materialise(SCHEDULES["medium_only"].scaled(2), pools, prompts_per_step=64, max_repeats=1)


def test_curriculum_replaces_what_an_earlier_curriculum_left(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _run(tmp_path, [0.5, 0.45, 0.4, 0.7, 0.65, 0.75, 0.9, 0.92])
    out = tmp_path / "c"
    base = ["curriculum", str(src), "--bins", "broad", "--prompts-per-step", "2", "--out", str(out)]
    assert cli.main([*base, "--schedule", "1:medium=1;2:easy_medium=1;3:easy=1"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "launch.sh", "plan.json", "stage_01.jsonl", "stage_02.jsonl", "stage_03.jsonl",
    ]  # fmt: skip
    capsys.readouterr()
    assert cli.main([*base, "--schedule", "1:medium=1", "--format", "trl"]) == 0
    err = capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["plan.json", "stage_01.jsonl"]
    assert "removed launch.sh, stage_02.jsonl, stage_03.jsonl" in err
    assert "no launch script is written for --format trl" in err
    assert json.loads((out / "plan.json").read_text())["launch_script"] is None
    (out / "notes.txt").write_text("mine")
    assert cli.main([*base, "--schedule", "1:medium=1"]) == 1
    assert "holds files that no curriculum wrote (notes.txt)" in _err_line(capsys)
    assert (out / "notes.txt").read_text() == "mine"


def test_curriculum_refuses_a_group_of_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _run(tmp_path, [0.5])
    argv = ["curriculum", str(src), "--schedule", "medium_only", "--samples-per-prompt", "1"]
    assert cli.main([*argv, "--out", str(tmp_path / "c")]) == 1
    assert "--samples-per-prompt must be >= 2" in _err_line(capsys)


# -- export: what the name says, or one sentence -------------------------------------------


def test_export_writes_what_the_extension_says(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    src = _run(tmp_path, [0.5, 0.7])
    as_parquet = tmp_path / "o.parquet"
    assert cli.main(["export", str(src), "--format", "openrlhf", "--out", str(as_parquet)]) == 0
    assert len(pq.read_table(as_parquet).to_pylist()) == 2
    capsys.readouterr()
    for fmt, name in (("verl", "x.jsonl"), ("openrlhf", "x.txt"), ("trl", "x")):
        assert cli.main(["export", str(src), "--format", fmt, "--out", str(tmp_path / name)]) == 1
        err = _err_line(capsys)
        assert f"{fmt} reads" in err and "name the output" in err
        assert not (tmp_path / name).exists()


def test_export_to_a_directory_is_refused_and_leaves_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _run(tmp_path, [0.5])
    out = tmp_path / "data"
    before = set(tmp_path.iterdir())
    assert cli.main(["export", str(src), "--format", "openrlhf", "--out", f"{out}/"]) == 1
    assert f"'{out}/' is a directory: --out takes a file name" in _err_line(capsys)
    out.mkdir()
    assert cli.main(["export", str(src), "--format", "openrlhf", "--out", str(out)]) == 1
    assert "is a directory" in _err_line(capsys)
    assert set(tmp_path.iterdir()) == before | {out} and not any(out.iterdir())


def test_export_with_nothing_left_says_why_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _run(tmp_path, [None, 0.0, 1.0, 1.0, 0.98])
    out = tmp_path / "train.jsonl"
    assert cli.main(["export", str(src), "--format", "openrlhf", "--out", str(out)]) == 1
    err = _err_line(capsys)
    assert err.startswith("stepstones export: nothing to export: of 5 problems, ")
    assert "3 pass rate above --keep-high 0.97" in err
    assert "1 pass rate below --keep-low 0.01" in err and "1 unmeasured" in err
    assert not out.exists()
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")  # a run whose every turn was rejected holds no problem
    assert cli.main(["export", str(empty), "--format", "openrlhf", "--out", str(out)]) == 1
    assert f"{empty} holds no valid problem yet" in _err_line(capsys)
    argv = ["curriculum", str(empty), "--schedule", "soft", "--out", str(tmp_path / "c")]
    assert cli.main(argv) == 1
    assert "no curriculum to write: " in _err_line(capsys)
    assert not out.exists() and not (tmp_path / "c").exists()


@pytest.mark.parametrize(
    ("bounds", "fragment"),
    [
        (["--keep-low", "0.9", "--keep-high", "0.1"], "--keep-low 0.9 is above --keep-high 0.1"),
        (["--keep-low", "2"], "--keep-low is a pass rate in 0..1, got 2.0"),
        (["--keep-high", "-0.5"], "--keep-high is a pass rate in 0..1, got -0.5"),
    ],
)
def test_impossible_keep_bounds_are_refused(
    bounds: list[str], fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _run(tmp_path, [0.5])
    out = tmp_path / "t.jsonl"
    assert cli.main(["export", str(src), "--format", "trl", "--out", str(out), *bounds]) == 1
    assert fragment in _err_line(capsys)
    assert not out.exists()


def test_problems_between_the_chain_bins_are_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _run(tmp_path, [0.5, 0.3, 0.7, 0.85])  # chain bins: medium 0.41-0.59, easy 0.81-0.91
    out = tmp_path / "t.jsonl"
    argv = ["export", str(src), "--format", "trl", "--bins", "chain", "--out", str(out)]
    assert cli.main(argv) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["written"] == 2
    assert report["dropped"] == {"pass rate between the chain bins": 2}
    assert "stepstones export: dropped 2 pass rate between the chain bins" in captured.err


def test_export_env_takes_the_comma_list_generate_takes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = _run(tmp_path, [0.5, 0.4], env="deduction")
    b = tmp_path / "b.jsonl"
    b.write_bytes(records.encode_json(make_problem(9, 0.5, "induction")) + b"\n")
    both = tmp_path / "both.jsonl"
    both.write_bytes(a.read_bytes() + b.read_bytes())
    out = tmp_path / "t.jsonl"
    argv = ["export", str(both), "--format", "trl", "--out", str(out)]
    assert cli.main([*argv, "--env", "induction,abduction"]) == 0
    assert json.loads(capsys.readouterr().out)["written"] == 1
    assert cli.main([*argv, "--env", "induction", "--env", "deduction"]) == 0
    assert json.loads(capsys.readouterr().out)["written"] == 3


# -- --help --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(cli.COMMANDS))
def test_every_option_is_described(name: str) -> None:
    parser = cli.parser(name)
    bare = [a.option_strings[0] for a in parser._actions if a.option_strings and not a.help]
    assert bare == [], f"stepstones {name}: options without a description: {bare}"


def test_help_shows_defaults_and_bin_ranges(capsys: pytest.CaptureFixture[str]) -> None:
    def help_of(name: str) -> str:
        with pytest.raises(SystemExit):
            cli.main([name, "--help"])
        return " ".join(capsys.readouterr().out.split())

    curriculum = help_of("curriculum")
    assert "(default: the schedule's own length; 40000 for the presets" in curriculum
    assert "--samples-per-prompt" in curriculum and "at least 2) (default: 8)" in curriculum
    assert "in 0..1 (default: 0.01)" in curriculum
    assert "in 0..1 (default: 0.97)" in curriculum
    export = help_of("export")
    assert "chain: easy 0.81-0.91, medium 0.41-0.59, hard 0.05-0.16" in export
    assert "broad: easy 0.85-0.97, easy_medium 0.61-0.85, medium 0.26-0.61, hard 0.1-0.26" in export
    generate = help_of("generate")
    assert "M, student samples per problem (default: 4 with the embedded model" in generate
    assert "teacher turns per chain (default: 3 with the embedded model" in generate
    serve = help_of("serve")
    assert "TCP port; 0 picks a free one (default: 5000)" in serve
    assert "most answers in one grading call (default: 256)" in serve
