"""`stepstones generate` argument handling: clear errors before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from stepstones.cli import main


def test_help_states_the_embedded_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["generate", "--help"])
    assert info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "2 chains, M=4, 3 turns" in text
    assert "few minutes on 2 CPU cores" in text
    assert "resumes" in text


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--env", "juggling"], "--env must be a comma-separated list"),
        (["--mode", "sideways"], "--mode must be a comma-separated list"),
    ],
)
def test_bad_choices_are_usage_errors(
    argv: list[str], fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["generate", "--out", str(tmp_path), *argv])
    assert info.value.code == 2
    assert fragment in capsys.readouterr().err


def test_missing_seed_source_fails_before_any_model_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["generate", "--out", str(tmp_path / "run"), "--seeds", str(tmp_path / "none")])
    assert code == 1
    err = capsys.readouterr().err
    assert "does not exist" in err
    assert "embedded local model" not in err
    assert not (tmp_path / "run").exists()


def test_teacher_url_needs_a_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "a.py").write_text("".join(f"x{i} = {i} * 2\n" for i in range(60)))
    code = main(
        [
            "generate",
            "--out",
            str(tmp_path / "run"),
            "--seeds",
            str(seeds),
            "--teacher-url",
            "http://127.0.0.1:9/v1",
        ]
    )
    assert code == 1
    assert "--teacher-url and --teacher-model go together" in capsys.readouterr().err


def test_zero_chains_fails_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "a.py").write_text("".join(f"x{i} = {i} * 2\n" for i in range(60)))
    argv = ["--seeds", str(seeds), "--chains", "0", "--teacher-url", "http://127.0.0.1:9/v1"]
    code = main(["generate", "--out", str(tmp_path / "run"), *argv, "--teacher-model", "m"])
    assert code == 1
    err = capsys.readouterr().err
    assert "--chains must be >= 1, got 0" in err and "no server answers" not in err
    assert not (tmp_path / "run").exists()
