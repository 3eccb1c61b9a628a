"""Difficulty bins by measured pass rate, the RL keep-filter, and per-bin/per-environment caps.

The paper's two bin sets are presets (docs/design.md §4): the stepping-stone chain bins (easy
0.81–0.91, medium 0.41–0.59, hard 0.05–0.16, with gaps between them on purpose) and the broad
bins (easy 0.85–0.97, easy-medium 0.61–0.85, medium 0.26–0.61, hard 0.10–0.26, which touch).

A bin holds pass rates ``low <= p < high``; its upper edge is inclusive when no other bin of the
set starts there, so 0.97 is broad-easy and 0.85 is broad-easy (not easy-medium).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Sequence

import msgspec

from stepstones.errors import ConfigError
from stepstones.records import Problem

__all__ = [
    "BIN_SETS",
    "BROAD_BINS",
    "CHAIN_BINS",
    "KEEP_HIGH",
    "KEEP_LOW",
    "Bin",
    "BinSet",
    "balance",
    "keep_for_rl",
    "parse_bins",
]

#: The RL keep-filter of the paper: problems every attempt fails or almost every attempt solves
#: give GRPO no signal.
KEEP_LOW = 0.01
KEEP_HIGH = 0.97


class Bin(msgspec.Struct, frozen=True):
    """One difficulty band: pass rates from ``low`` (inclusive) to ``high``."""

    name: str
    low: float
    high: float


class BinSet(msgspec.Struct, frozen=True):
    """Named, non-overlapping bins; a pass rate falls in at most one of them."""

    name: str
    bins: tuple[Bin, ...]

    def __post_init__(self) -> None:
        names = [b.name for b in self.bins]
        if not self.bins:
            raise ConfigError(f"bin set {self.name!r} has no bins: give at least one")
        if len(set(names)) != len(names):
            raise ConfigError(f"bin set {self.name!r} repeats a bin name: {names}")
        for b in self.bins:
            if not 0.0 <= b.low < b.high <= 1.0:
                raise ConfigError(
                    f"bin {b.name!r} must satisfy 0 <= low < high <= 1, got {b.low}..{b.high}"
                )
        ordered = sorted(self.bins, key=lambda b: b.low)
        for a, b in itertools.pairwise(ordered):
            if b.low < a.high:
                raise ConfigError(
                    f"bins {a.name!r} ({a.low}..{a.high}) and {b.name!r} ({b.low}..{b.high}) "
                    "overlap: make them disjoint"
                )

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(b.name for b in self.bins)

    def assign(self, pass_rate: float | None) -> str | None:
        """The name of the bin holding ``pass_rate``, or None (unmeasured or between bins)."""
        if pass_rate is None:
            return None
        starts = {b.low for b in self.bins}
        for b in self.bins:
            if b.low <= pass_rate < b.high:
                return b.name
            if pass_rate == b.high and b.high not in starts:
                return b.name
        return None

    def bin(self, name: str) -> Bin:
        for b in self.bins:
            if b.name == name:
                return b
        raise ConfigError(f"bin set {self.name!r} has no bin {name!r}; it has {list(self.names)}")


CHAIN_BINS = BinSet(
    "chain",
    (Bin("easy", 0.81, 0.91), Bin("medium", 0.41, 0.59), Bin("hard", 0.05, 0.16)),
)
BROAD_BINS = BinSet(
    "broad",
    (
        Bin("easy", 0.85, 0.97),
        Bin("easy_medium", 0.61, 0.85),
        Bin("medium", 0.26, 0.61),
        Bin("hard", 0.10, 0.26),
    ),
)
BIN_SETS: dict[str, BinSet] = {"chain": CHAIN_BINS, "broad": BROAD_BINS}


def parse_bins(spec: str) -> BinSet:
    """A preset name (``chain``, ``broad``) or custom bins ``name=low:high,name=low:high``."""
    spec = spec.strip()
    if spec in BIN_SETS:
        return BIN_SETS[spec]
    bins: list[Bin] = []
    for part in spec.split(","):
        name, sep, rng = part.partition("=")
        low, sep2, high = rng.partition(":")
        try:
            if not (sep and sep2 and name.strip()):
                raise ValueError(part)
            bins.append(Bin(name.strip(), float(low), float(high)))
        except ValueError:
            raise ConfigError(
                f"bad bin {part!r} in {spec!r}: use a preset ({', '.join(BIN_SETS)}) or "
                "name=low:high pairs such as 'easy=0.8:0.95,hard=0.05:0.2'"
            ) from None
    return BinSet("custom", tuple(bins))


def keep_for_rl(pass_rate: float | None, *, low: float = KEEP_LOW, high: float = KEEP_HIGH) -> bool:
    """The RL keep-filter: measured and ``low <= pass_rate <= high``."""
    return pass_rate is not None and low <= pass_rate <= high


def balance(
    problems: Iterable[Problem],
    bins: BinSet,
    *,
    cap_per_bin: int | None = None,
    cap_per_env: int | None = None,
    seed: int = 0,
) -> dict[str, list[Problem]]:
    """Group problems by bin (dropping those in no bin), then cap reproducibly.

    ``cap_per_env`` caps each (bin, environment) cell, so every environment keeps a fair share
    of each bin; ``cap_per_bin`` then caps each bin, taking environments round-robin so the cap
    does not starve one of them. Which problems survive a cap is a seeded shuffle.
    """
    for cap, label in ((cap_per_bin, "cap_per_bin"), (cap_per_env, "cap_per_env")):
        if cap is not None and cap < 1:
            raise ConfigError(f"{label} must be >= 1 or None, got {cap}")
    rng = random.Random(seed)
    cells: dict[str, dict[str, list[Problem]]] = {name: {} for name in bins.names}
    for p in problems:
        name = bins.assign(p.pass_rate)
        if name is not None:
            cells[name].setdefault(p.env, []).append(p)
    out: dict[str, list[Problem]] = {}
    for name in bins.names:
        per_env = cells[name]
        for env in sorted(per_env):
            rng.shuffle(per_env[env])
            if cap_per_env is not None:
                del per_env[env][cap_per_env:]
        out[name] = _round_robin([per_env[e] for e in sorted(per_env)], cap_per_bin)
    return out


def _round_robin(groups: Sequence[list[Problem]], cap: int | None) -> list[Problem]:
    taken: list[Problem] = []
    depth = 0
    while cap is None or len(taken) < cap:
        row = [g[depth] for g in groups if depth < len(g)]
        if not row:
            break
        taken.extend(row[: None if cap is None else cap - len(taken)])
        depth += 1
    return taken
