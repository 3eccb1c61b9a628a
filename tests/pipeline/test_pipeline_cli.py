"""`stepstones generate` argument handling: clear errors before anything starts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import stepstones
from stepstones import cli
from stepstones._cli import _generate as shared
from stepstones.cli import main
from stepstones.distributed._generate_cli import plan as ray_plan
from stepstones.errors import SeedError


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


# -- one CLI layer: the local and the Ray run are built from the same settings -------------

#: A value other than the default for every option of `stepstones generate` (both options of
#: a pair that goes together in one entry).
NON_DEFAULT: dict[str, list[str]] = {
    "--seeds": ["seeds/"],
    "--seed-number": ["7"],
    "--seed-unit": ["function"],
    "--seed-min-lines": ["5"],
    "--seed-max-lines": ["9"],
    "--env": ["deduction,abduction"],
    "--mode": ["top_down,single_turn"],
    "--chains": ["9"],
    "--config": ["CONFIG"],
    "--samples": ["3"],
    "--max-turns": ["2"],
    "--endpoints": ["endpoints.toml"],
    "--teacher-url": ["http://10.0.0.1:8000/v1", "--teacher-model", "big"],
    "--student-url": ["http://10.0.0.2:8000/v1", "--student-model", "small"],
    "--max-requests": ["5"],
    "--concurrency": ["5"],
    "--sandbox-workers": ["3"],
    "--allow-weaker-sandbox": [],
    "--progress-interval": ["2.5"],
    "--quiet": [],
    "--ray": ["auto"],
    "--ray-actors": ["3"],
    "--ray-cpus-per-actor": ["0.5"],
    "--ray-max-restarts": ["1"],
    "--ray-local-cpus": ["2"],
}
PAIRED = {"--teacher-model", "--student-model"}
RAY_ONLY = {"--ray-actors", "--ray-cpus-per-actor", "--ray-max-restarts", "--ray-local-cpus"}


def _settings(argv: list[str]) -> shared.GenerateSettings:
    return shared.settings(cli.parser("generate").parse_args(["--out", "run", *argv]))


def test_every_generate_option_reaches_the_settings(tmp_path: Path) -> None:
    config = tmp_path / "gen.toml"
    config.write_text("samples = 16\n")
    parser = cli.parser("generate")
    options = {a.option_strings[0] for a in parser._actions if a.option_strings}
    assert options - {"-h", "--out"} - PAIRED == set(NON_DEFAULT), "add new options here"
    for option, value in NON_DEFAULT.items():
        given = [str(config) if v == "CONFIG" else v for v in value]
        extra = ["--ray", "local"] if option in RAY_ONLY else []
        assert _settings([*extra, option, *given]) != _settings(extra), f"{option} is dropped"


def test_the_ray_run_gets_what_the_local_run_gets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same argv through both paths: the Ray actors grow chains with the config, target,
    environments, sandbox and endpoint limits a local run would use."""
    monkeypatch.delenv("STEPSTONES_CONFIG", raising=False)
    config = tmp_path / "gen.toml"
    config.write_text("samples = 16\nmax_turns = 5\n")
    argv = [a for option, value in NON_DEFAULT.items() for a in (option, *value)]
    skip = {"--endpoints", "endpoints.toml"}  # a file that would have to exist
    s = _settings([str(config) if a == "CONFIG" else a for a in argv if a not in skip])
    assert s.teacher is not None and s.student is not None
    local_config = shared.run_config(s, local_model=False)
    assert (local_config.samples, local_config.max_turns) == (3, 2)  # flags over the file
    plan = ray_plan(s, s.teacher, s.student, frozenset())
    assert plan.spec.config == local_config
    assert plan.target == shared.target_chains(s, local_model=False) == 9
    assert plan.spec.envs == s.envs == ("deduction", "abduction")
    assert (plan.spec.sandbox_workers, plan.spec.allow_weaker) == (3, True)
    assert plan.actors * plan.chains_in_flight_per_actor >= 5 > (plan.actors - 1) * 2
    assert (plan.spec.teacher.max_concurrency, plan.spec.student.max_concurrency) == (5, 5)
    assert (plan.spec.teacher.model, plan.spec.student.model) == ("big", "small")
    assert (plan.actors, plan.cpus_per_actor, plan.max_restarts) == (3, 0.5, 1)


def test_neither_run_reads_the_arguments_itself() -> None:
    """Both commands take the shared layer's settings; only it reads parsed arguments."""
    root = Path(shared.__file__).parents[1]
    local = (root / "pipeline" / "_cli.py").read_text()
    ray = (root / "distributed" / "_generate_cli.py").read_text()
    assert re.findall(r"\bargs\.\w+", local) == [] and "cli.settings(args)" in local
    assert re.findall(r"\bargs\b", ray) == []


def test_seed_source_without_a_seed_is_one_sentence_and_leaves_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "blank.py").write_text("\n\n# only a comment\n")
    argv = ["--seeds", str(seeds), "--teacher-url", "http://127.0.0.1:9/v1", "--teacher-model", "m"]
    assert cli.main(["generate", "--out", str(tmp_path / "run"), *argv]) == 1
    err = capsys.readouterr().err
    assert err.startswith("stepstones generate: found no window of 25-50 lines")
    assert "--seed-unit, --seed-min-lines and --seed-max-lines" in err and err.count("\n") == 1
    assert not (tmp_path / "run").exists()


def test_a_seed_error_inside_the_run_is_one_sentence() -> None:
    """A SeedError raised by a later seed inside the runner's task group reaches the user as
    its sentence, not as an exception group."""
    group = BaseExceptionGroup("run", [ExceptionGroup("inner", [SeedError("no seed 7")])])
    assert cli._only_stepstones_error(group) is group.exceptions[0].exceptions[0]  # type: ignore[union-attr]
    assert cli._only_stepstones_error(BaseExceptionGroup("x", [SeedError("a"), OSError()])) is None


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith(f"stepstones {stepstones.__version__} (")
