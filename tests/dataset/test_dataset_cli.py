"""`stepstones export` and `stepstones curriculum`, and the launch plan checked against
OpenRLHF 0.11.2's real argument parser."""

from __future__ import annotations

import json
import shlex
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from _dataset_problems import make_problem
from _dataset_wheels import check_openrlhf_argv, openrlhf_parser

from stepstones import records
from stepstones.cli import main
from stepstones.dataset import LaunchOptions, openrlhf_argv
from stepstones.records import Problem


def _store(tmp_path: Path) -> Path:
    probs: list[Problem] = []
    for k in range(40):
        env = ("deduction", "induction")[k % 2]
        rate = (0.9, 0.7, 0.5, 0.2, 0.0, 1.0)[k % 6]
        probs.append(make_problem(k, rate, env))  # type: ignore[arg-type]
    path = tmp_path / "problems.jsonl"
    path.write_bytes(b"".join(records.encode_json(p) + b"\n" for p in probs))
    return path


def test_export_cli_filters_bins_and_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _store(tmp_path)
    out = tmp_path / "o" / "train.jsonl"
    rc = main(["export", str(src), "--format", "openrlhf", "--bins", "broad", "--out", str(out)])
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    assert report["read"] == 40
    assert report["kept_for_rl"] == 40 - 6 - 6  # pass rates 0.0 and 1.0 are dropped
    assert report["per_bin"] == {"easy": 7, "easy_medium": 7, "medium": 7, "hard": 7}
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == report["written"] == 28
    assert Counter(r["datasource"].rsplit("/", 1)[1] for r in rows)["hard"] == 7


def test_export_cli_mix_and_bad_arguments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _store(tmp_path)
    out = tmp_path / "trl.jsonl"
    rc = main(
        [
            "export",
            str(src),
            "--format",
            "trl",
            "--mix",
            "induction=3,deduction=4",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    envs = Counter(json.loads(line)["env"] for line in out.read_text().splitlines())
    assert envs == {"induction": 3, "deduction": 4}
    capsys.readouterr()
    assert (
        main(["export", str(src), "--format", "trl", "--mix", "induction=300", "--out", str(out)])
        == 1
    )
    assert "300 induction problems but only 14" in capsys.readouterr().err
    assert main(["export", str(src), "--format", "trl", "--mix", "bogus=3", "--out", str(out)]) == 1
    assert "bad mix entry" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "missing"), "--format", "trl", "--out", str(out)]) == 1


def test_launch_flags_parse_with_openrlhfs_own_parser() -> None:
    parser = openrlhf_parser()
    argv = openrlhf_argv("stage_01.jsonl", "Qwen/Qwen2.5-7B", "/ckpt/s1", LaunchOptions())
    ns = check_openrlhf_argv(parser, argv)
    assert ns["reward.remote_url"] == "http://127.0.0.1:5000/get_reward"
    assert ns["train.batch_size"] == 128 * 8


def _script_commands(script: str) -> list[list[str]]:
    """The train_ppo_ray command lines in a bash script, with $VARS left as placeholders."""
    joined = script.replace("\\\n", " ")
    cmds = []
    for line in joined.splitlines():
        if "openrlhf.cli.train_ppo_ray" in line and not line.lstrip().startswith("#"):
            argv = shlex.split(line.strip())
            start = argv.index("python3")
            cmds.append(argv[start:])
    return cmds


def test_curriculum_cli_writes_stages_plan_and_launch_script(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _store(tmp_path)
    out = tmp_path / "soft"
    argv = ["curriculum", str(src), "--schedule", "medium_start_reverse", "--total-steps", "8"]
    argv += ["--prompts-per-step", "16", "--allow-repeats", "--out", str(out), "--seed", "5"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert [s[0] for s in summary["stages"]] == [
        "stage_01.jsonl",
        "stage_02.jsonl",
        "stage_03.jsonl",
    ]
    plan = json.loads((out / "plan.json").read_text())
    assert plan["bins"] == "broad"
    assert [s["steps"] for s in plan["stages"]] == [
        4,
        1,
        3,
    ]  # 17.5K/20K/40K scaled to 8 (3.5 rounds to 4)
    stage2 = [json.loads(line) for line in (out / "stage_02.jsonl").read_text().splitlines()]
    assert len(stage2) == 16
    bins = Counter(r["datasource"].rsplit("/", 1)[1] for r in stage2)
    assert bins == {"medium": 12, "easy_medium": 4}  # .75/.25 of 16
    script = (out / "launch.sh").read_text()
    subprocess.run(["bash", "-n", str(out / "launch.sh")], check=True)
    cmds = _script_commands(script)
    assert len(cmds) == 3
    parser = openrlhf_parser()
    for i, cmd in enumerate(cmds, 1):
        ns = check_openrlhf_argv(parser, cmd)
        assert ns["data.prompt_dataset"] == f"$HERE/stage_{i:02d}.jsonl"
        assert ns["ckpt.output_dir"] == f"$SAVE_ROOT/stage_{i:02d}"
    # Each stage starts from the previous stage's output.
    assert script.index('MODEL="$SAVE_ROOT/stage_01"') < script.index("stage_02.jsonl")
    # Same seed, same datasets.
    again = tmp_path / "again"
    argv[-3] = str(again)
    assert main(argv) == 0
    assert (again / "stage_03.jsonl").read_bytes() == (out / "stage_03.jsonl").read_bytes()


def test_curriculum_cli_rejects_mismatched_bins(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _store(tmp_path)
    argv = ["curriculum", str(src), "--schedule", "medium_start_reverse", "--bins", "chain"]
    assert main([*argv, "--out", str(tmp_path / "x")]) == 1
    assert "easy_medium" in capsys.readouterr().err


def test_curriculum_cli_verl_stages_are_parquet_without_a_launch_script(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    src = _store(tmp_path)
    out = tmp_path / "verl"
    argv = ["curriculum", str(src), "--schedule", "2:medium=1;4:hard=1", "--bins", "broad"]
    assert main([*argv, "--prompts-per-step", "5", "--format", "verl", "--out", str(out)]) == 0
    capsys.readouterr()
    assert sorted(p.name for p in out.iterdir()) == [
        "plan.json",
        "stage_01.parquet",
        "stage_02.parquet",
    ]
    rows = pq.read_table(out / "stage_02.parquet").to_pylist()
    assert len(rows) == 10
    # pass rate 0.2 (hard) only occurs for odd k in _store, i.e. induction problems
    assert {r["data_source"] for r in rows} == {"stepstones/induction/hard"}
