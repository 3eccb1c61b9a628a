"""Generation settings: the paper's values as defaults, loadable from TOML.

Every number of docs/design.md §2 lives here, never as a constant in the loop: the pass-rate
thresholds of the progression, the target band named in the harder-prompt, the number of student
samples M, the turn budget and the difficulty bands whose presence ends a chain.

A TOML file holds the same names as :class:`Config`, with nested tables for the two samplings
and the bands::

    samples = 32
    max_turns = 6
    between = "fill"

    [teacher_sampling]
    temperature = 1.0
    max_tokens = 4096
    reasoning_effort = "high"

    [bands]
    hard = [0.05, 0.16]
    medium = [0.41, 0.59]
    easy = [0.81, 0.91]
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

import msgspec

from stepstones.errors import ConfigError
from stepstones.records import content_hash

__all__ = ["Between", "Config", "SamplingConfig", "load_config"]

#: What to ask for when the pass rate is neither above ``harder_above`` nor zero
#: (docs/design.md §2 step 5, "in between → the configured strategy"):
#: fill = harder or easier towards the nearest wanted band the chain still lacks;
#: harder / easier / sibling = always that.
Between = Literal["fill", "harder", "easier", "sibling"]

#: Environment variable naming a TOML file with the default Config of generate_chain.
CONFIG_ENV = "STEPSTONES_CONFIG"


class SamplingConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Sampling of one role; mirrors :class:`stepstones.llm.Sampling` (converted at the call)."""

    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 4096
    reasoning_effort: str | None = None
    seed: int | None = None


def _paper_bands() -> dict[str, tuple[float, float]]:
    # The stepping-stone chain bins of the paper (docs/design.md §4), inclusive on both ends.
    return {"hard": (0.05, 0.16), "medium": (0.41, 0.59), "easy": (0.81, 0.91)}


class Config(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How chains are generated. Defaults are the paper's (docs/design.md §2).

    samples: M, student attempts per problem, sampled as one request with ``n=M``.
    max_turns: teacher turns per chain, valid or not (the paper does not state it; 6).
    harder_above: a pass rate above this asks for a harder variant (0.65).
    easier_at_or_below: a pass rate at or below this asks for an easier one (0.0: p == 0).
    target_low / target_high: the pass-rate band the harder/easier prompts aim at (0.35-0.65).
    between: the strategy for pass rates between the two thresholds (see :data:`Between`).
    bands: named pass-rate bands [low, high], inclusive; a chain stops once it holds a measured
        problem in every band (the paper's stepping-stone bins by default).
    keep_low / keep_high: the RL keep-filter (0.01 <= p <= 0.97); "viable" in stats and yield.
    summary_answer_chars: longest answer text shown to the teacher in a summary; longer ones are
        cut with a marker.
    summary_examples: how many solved and how many failed answers the summary shows (2 each).
    teacher_sampling / student_sampling: sampling of each role; the paper used one model at
        high (teacher) and low (student) reasoning effort. For a model without reasoning
        efforts (some servers reject the field), set ``reasoning_effort = ""`` so it is not sent.
    chat_timeout_s: deadline for one teacher or student request, retries included.
    """

    samples: int = 32
    max_turns: int = 6
    harder_above: float = 0.65
    easier_at_or_below: float = 0.0
    target_low: float = 0.35
    target_high: float = 0.65
    between: Between = "fill"
    bands: dict[str, tuple[float, float]] = msgspec.field(default_factory=_paper_bands)
    keep_low: float = 0.01
    keep_high: float = 0.97
    summary_answer_chars: int = 600
    summary_examples: int = 2
    teacher_sampling: SamplingConfig = SamplingConfig(temperature=1.0, reasoning_effort="high")
    student_sampling: SamplingConfig = SamplingConfig(temperature=1.0, reasoning_effort="low")
    chat_timeout_s: float = 600.0

    def __post_init__(self) -> None:
        _check(self)

    def fingerprint(self) -> str:
        """A stable hash of every setting; part of a chain id, so a changed config is new data."""
        return content_hash(msgspec.json.encode(self).decode())

    def replace(self, **changes: Any) -> Config:
        """A copy with some fields changed (validated like a new Config)."""
        try:
            return msgspec.structs.replace(self, **changes)
        except TypeError as exc:
            raise ConfigError(f"unknown Config field: {exc}") from exc

    def is_viable(self, pass_rate: float | None) -> bool:
        """Whether a measured pass rate passes the RL keep-filter."""
        return pass_rate is not None and self.keep_low <= pass_rate <= self.keep_high


def _check(cfg: Config) -> None:
    if cfg.samples < 1:
        raise ConfigError(f"samples must be >= 1, got {cfg.samples}")
    if cfg.max_turns < 1:
        raise ConfigError(f"max_turns must be >= 1, got {cfg.max_turns}")
    for name in ("harder_above", "easier_at_or_below", "target_low", "target_high"):
        value = getattr(cfg, name)
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"{name} must be within [0, 1], got {value}")
    if cfg.easier_at_or_below >= cfg.harder_above:
        raise ConfigError(
            f"easier_at_or_below ({cfg.easier_at_or_below}) must be below harder_above "
            f"({cfg.harder_above})"
        )
    if cfg.target_low > cfg.target_high:
        raise ConfigError(f"target_low {cfg.target_low} is above target_high {cfg.target_high}")
    for name, (low, high) in cfg.bands.items():
        if not 0.0 <= low <= high <= 1.0:
            raise ConfigError(f"band {name!r} must be [low, high] within [0, 1], got {low, high}")
    if cfg.summary_answer_chars < 20:
        raise ConfigError(f"summary_answer_chars must be >= 20, got {cfg.summary_answer_chars}")
    if cfg.summary_examples < 0:
        raise ConfigError(f"summary_examples must be >= 0, got {cfg.summary_examples}")
    if cfg.chat_timeout_s <= 0:
        raise ConfigError(f"chat_timeout_s must be > 0, got {cfg.chat_timeout_s}")
    for role in (cfg.teacher_sampling, cfg.student_sampling):
        if role.max_tokens < 1:
            raise ConfigError(f"max_tokens must be >= 1, got {role.max_tokens}")


_decoder = msgspec.json.Decoder(Config)


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read a Config from a TOML file.

    With no path, the file named by ``$STEPSTONES_CONFIG`` is read if set, else the defaults
    are returned. Unknown keys and wrong types raise ConfigError naming the key.
    """
    if path is None:
        env_path = os.environ.get(CONFIG_ENV)
        if not env_path:
            return Config()
        path = env_path
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config file {str(file)!r}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {str(file)!r} is not valid TOML: {exc}") from exc
    try:
        return msgspec.convert(data, Config)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"config file {str(file)!r}: {exc}") from exc
