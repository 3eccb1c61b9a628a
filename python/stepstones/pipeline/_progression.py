"""The progression policy (docs/design.md §2 steps 5-6): pure functions of pass rates and Config.

p > harder_above -> "harder"; p <= easier_at_or_below (p == 0) -> "easier"; in between -> the
configured strategy. A chain is complete once its measured problems cover every wanted band.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from stepstones.pipeline._config import Config

__all__ = ["Instruction", "bands_of", "is_complete", "missing_bands", "next_instruction"]

Instruction = Literal["harder", "easier", "sibling"]


def bands_of(pass_rate: float, config: Config) -> list[str]:
    """Names of the wanted bands that hold this pass rate (bands may overlap)."""
    return [name for name, (low, high) in config.bands.items() if low <= pass_rate <= high]


def missing_bands(pass_rates: Iterable[float], config: Config) -> list[str]:
    """Wanted bands not yet covered by any of the pass rates, in config order."""
    covered = {name for p in pass_rates for name in bands_of(p, config)}
    return [name for name in config.bands if name not in covered]


def is_complete(pass_rates: Iterable[float], config: Config) -> bool:
    """The stop rule: every wanted band holds at least one measured problem."""
    return bool(config.bands) and not missing_bands(pass_rates, config)


def next_instruction(pass_rate: float, pass_rates: Iterable[float], config: Config) -> Instruction:
    """What to ask the teacher for after measuring ``pass_rate``.

    ``pass_rates`` are all measured pass rates of the chain so far (including this one); the
    "fill" strategy moves towards the nearest wanted band that is still missing.
    """
    if pass_rate > config.harder_above:
        return "harder"
    if pass_rate <= config.easier_at_or_below:
        return "easier"
    if config.between != "fill":
        return config.between
    missing = missing_bands(pass_rates, config)
    if not missing:
        return "sibling"
    centres = [sum(config.bands[name]) / 2 for name in missing]
    nearest = min(centres, key=lambda c: (abs(c - pass_rate), c))
    # Lower pass rate means a harder problem.
    return "harder" if nearest < pass_rate else "easier"
