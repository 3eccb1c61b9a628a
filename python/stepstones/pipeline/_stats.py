"""Yield, pass-rate histograms and difficulty bins of stored chains.

Yield is what the paper compares modes by: viable problems (measured pass rate within the RL
keep-filter, 0.01 <= p <= 0.97 by default) per teacher turn. It is reported per mode and per
turn index, so a multi-turn mode can be set against single-turn sampling from the same seeds.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

import msgspec

from stepstones.dataset import BIN_SETS
from stepstones.pipeline._config import Config
from stepstones.pipeline._progression import is_complete
from stepstones.records import Chain

__all__ = [
    "HISTOGRAM_BINS",
    "TOP_REASONS",
    "ModeStats",
    "ReasonStats",
    "RunStats",
    "TurnStats",
    "compute_stats",
    "histogram",
    "reason_pattern",
]

#: Pass-rate histograms have this many equal-width bins over [0, 1].
HISTOGRAM_BINS = 10
#: Rejection reasons shown per mode, most common first.
TOP_REASONS = 5
_REASON_CHARS = 100
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_NUMBER = re.compile(r"\d+(\.\d+)?")


def reason_pattern(reason: str) -> str:
    """A rejection reason with its particulars blanked (numbers -> N, quoted text -> '…'),
    its first line only, so reasons that differ only in a count or a name group together."""
    first = reason.strip().splitlines()[0] if reason.strip() else ""
    pattern = _NUMBER.sub("N", _QUOTED.sub("'…'", first))
    return pattern if len(pattern) <= _REASON_CHARS else pattern[: _REASON_CHARS - 1] + "…"


def histogram(pass_rates: Iterable[float], bins: int = HISTOGRAM_BINS) -> list[int]:
    """Counts of pass rates in ``bins`` equal bins over [0, 1] (1.0 falls in the last bin)."""
    counts = [0] * bins
    for p in pass_rates:
        counts[min(bins - 1, max(0, int(p * bins)))] += 1
    return counts


class TurnStats(msgspec.Struct, frozen=True, kw_only=True):
    """Turns at one index (0 = first turn) of the chains of one mode."""

    index: int
    turns: int
    measured: int
    viable: int

    @property
    def yield_(self) -> float:
        return self.viable / self.turns if self.turns else 0.0


class ReasonStats(msgspec.Struct, frozen=True, kw_only=True):
    """One kind of rejection reason: how often it came and one reason as it was given."""

    kind: str
    pattern: str
    count: int
    example: str


class ModeStats(msgspec.Struct, frozen=True, kw_only=True):
    """Everything about the chains of one mode (and one environment, or all)."""

    mode: str
    env: str
    chains: int
    turns: int
    measured: int  # valid problems measured by the student
    viable: int  # measured problems within the keep-filter
    viable_yield: float  # viable / turns
    rejections: dict[str, int]  # by kind
    top_reasons: list[ReasonStats]  # most common reasons, TOP_REASONS at most
    histogram: list[int]  # pass rates of measured problems, HISTOGRAM_BINS bins
    bands: dict[str, int]  # measured problems per configured band
    difficulty: dict[str, dict[str, int]]  # per paper bin set ("chain", "broad"): bin -> count
    complete_chains: int  # chains covering every configured band
    per_turn: list[TurnStats]
    prompt_tokens: int
    completion_tokens: int


class RunStats(msgspec.Struct, frozen=True, kw_only=True):
    """Stats of a whole run: one entry per (env, mode) and one per mode over all envs."""

    chains: int
    by_mode: list[ModeStats]  # env == "all"
    by_env_mode: list[ModeStats]


def _band_counts(rates: Sequence[float], config: Config) -> dict[str, int]:
    return {
        name: sum(1 for p in rates if low <= p <= high)
        for name, (low, high) in config.bands.items()
    }


def _mode_stats(mode: str, env: str, chains: Sequence[Chain], config: Config) -> ModeStats:
    rates: list[float] = []
    rejections: Counter[str] = Counter()
    reasons: Counter[tuple[str, str]] = Counter()
    examples: dict[tuple[str, str], str] = {}
    per_turn: dict[int, list[int]] = {}
    complete = 0
    turns = prompt = completion = 0
    for chain in chains:
        chain_rates = []
        for turn in chain.turns:
            turns += 1
            slot = per_turn.setdefault(turn.index, [0, 0, 0])
            slot[0] += 1
            prompt += turn.teacher_usage.prompt_tokens + turn.student_usage.prompt_tokens
            completion += (
                turn.teacher_usage.completion_tokens + turn.student_usage.completion_tokens
            )
            if turn.rejection is not None:
                rejections[turn.rejection.kind] += 1
                key = (turn.rejection.kind, reason_pattern(turn.rejection.reason))
                reasons[key] += 1
                examples.setdefault(key, turn.rejection.reason)
            if turn.problem is not None and turn.problem.pass_rate is not None:
                p = turn.problem.pass_rate
                slot[1] += 1
                slot[2] += config.is_viable(p)
                chain_rates.append(p)
        rates.extend(chain_rates)
        complete += is_complete(chain_rates, config)
    viable = sum(1 for p in rates if config.is_viable(p))
    return ModeStats(
        mode=mode,
        env=env,
        chains=len(chains),
        turns=turns,
        measured=len(rates),
        viable=viable,
        viable_yield=viable / turns if turns else 0.0,
        rejections=dict(sorted(rejections.items())),
        top_reasons=[
            ReasonStats(kind=k, pattern=pat, count=n, example=examples[(k, pat)])
            for (k, pat), n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_REASONS]
        ],
        histogram=histogram(rates),
        bands=_band_counts(rates, config),
        difficulty={
            name: {b: sum(1 for p in rates if bins.assign(p) == b) for b in bins.names}
            for name, bins in BIN_SETS.items()
        },
        complete_chains=complete,
        per_turn=[
            TurnStats(index=i, turns=t, measured=m, viable=v)
            for i, (t, m, v) in sorted(per_turn.items())
        ],
        prompt_tokens=prompt,
        completion_tokens=completion,
    )


def compute_stats(chains: Iterable[Chain], config: Config) -> RunStats:
    """Stats of chains grown with ``config`` (its keep-filter and bands are used)."""
    all_chains = list(chains)
    modes = sorted({c.mode for c in all_chains})
    pairs = sorted({(c.env, c.mode) for c in all_chains})
    return RunStats(
        chains=len(all_chains),
        by_mode=[
            _mode_stats(m, "all", [c for c in all_chains if c.mode == m], config) for m in modes
        ],
        by_env_mode=[
            _mode_stats(m, e, [c for c in all_chains if c.env == e and c.mode == m], config)
            for e, m in pairs
        ],
    )
