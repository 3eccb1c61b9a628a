"""Config: the paper's defaults, TOML loading and validation, the fingerprint in chain ids."""

from __future__ import annotations

from pathlib import Path

import pytest

from stepstones.errors import ConfigError
from stepstones.pipeline import Config, SamplingConfig, load_config


def test_defaults_are_the_papers_values() -> None:
    cfg = Config()
    assert cfg.samples == 32
    assert cfg.max_turns == 6
    assert cfg.harder_above == 0.65
    assert cfg.easier_at_or_below == 0.0
    assert (cfg.target_low, cfg.target_high) == (0.35, 0.65)
    assert cfg.bands == {"hard": (0.05, 0.16), "medium": (0.41, 0.59), "easy": (0.81, 0.91)}
    assert (cfg.keep_low, cfg.keep_high) == (0.01, 0.97)
    assert cfg.summary_examples == 2
    assert cfg.teacher_sampling.reasoning_effort == "high"
    assert cfg.student_sampling.reasoning_effort == "low"


def test_toml_round_trip(tmp_path: Path) -> None:
    file = tmp_path / "gen.toml"
    file.write_text(
        'samples = 8\nmax_turns = 4\nbetween = "sibling"\n'
        "[teacher_sampling]\nmax_tokens = 1000\n"
        "[bands]\nmedium = [0.3, 0.7]\n"
    )
    cfg = load_config(file)
    assert cfg.samples == 8
    assert cfg.max_turns == 4
    assert cfg.between == "sibling"
    assert cfg.teacher_sampling == SamplingConfig(max_tokens=1000)
    assert cfg.bands == {"medium": (0.3, 0.7)}


def test_env_var_names_the_default_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "gen.toml"
    file.write_text("samples = 3\n")
    monkeypatch.setenv("STEPSTONES_CONFIG", str(file))
    assert load_config().samples == 3
    monkeypatch.delenv("STEPSTONES_CONFIG")
    assert load_config() == Config()


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("samples = 0\n", "samples must be >= 1"),
        ("max_turns = -1\n", "max_turns must be >= 1"),
        ("harder_above = 1.5\n", "harder_above must be within [0, 1]"),
        ("sampels = 3\n", "sampels"),
        ('samples = "many"\n', "Expected `int`"),
        ("[bands]\nx = [0.9, 0.1]\n", "band 'x'"),
        ('between = "sideways"\n', "between"),
        ("samples = \n", "not valid TOML"),
    ],
)
def test_bad_files_say_what_is_wrong(tmp_path: Path, text: str, fragment: str) -> None:
    file = tmp_path / "bad.toml"
    file.write_text(text)
    with pytest.raises(ConfigError, match=None) as info:
        load_config(file)
    assert fragment in str(info.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "nope.toml")


def test_replace_validates_and_fingerprint_tracks_every_field() -> None:
    cfg = Config()
    with pytest.raises(ConfigError, match="samples must be >= 1"):
        cfg.replace(samples=0)
    with pytest.raises(ConfigError, match="unknown Config field"):
        cfg.replace(nope=1)
    assert cfg.fingerprint() == Config().fingerprint()
    assert cfg.replace(samples=31).fingerprint() != cfg.fingerprint()
    changed = cfg.replace(student_sampling=SamplingConfig(temperature=0.5))
    assert changed.fingerprint() != cfg.fingerprint()


def test_viability_is_the_keep_filter() -> None:
    cfg = Config()
    assert not cfg.is_viable(None)
    assert not cfg.is_viable(0.0)
    assert cfg.is_viable(0.01)
    assert cfg.is_viable(0.97)
    assert not cfg.is_viable(1.0)
