"""Everything a report shows, computed at once from a loaded run."""

from __future__ import annotations

import msgspec

from stepstones.report._data import (
    Difficulty,
    RejectionCount,
    RejectionExample,
    RoleCost,
    Trajectory,
    YieldRow,
    costs,
    difficulty,
    example_chains,
    rejection_counts,
    rejection_examples,
    trajectories,
    yields,
)
from stepstones.report._load import Run

__all__ = ["EXAMPLES", "ReportData", "compute"]

#: Chains drawn large, each with a table of its turns.
EXAMPLES = 4


class ReportData(msgspec.Struct, frozen=True, kw_only=True):
    """The data of every figure and table of a report (also written as ``data.json``)."""

    trajectories: list[Trajectory]
    examples: list[Trajectory]
    yields: list[YieldRow]
    difficulty: list[Difficulty]
    rejection_counts: list[RejectionCount]
    rejection_examples: list[RejectionExample]
    costs: list[RoleCost]


def compute(run: Run, examples: int = EXAMPLES) -> ReportData:
    """The report's data for ``run`` with its own keep-filter (viable) and settings."""
    trajs = trajectories(run.chains)
    return ReportData(
        trajectories=trajs,
        examples=example_chains(trajs, examples),
        yields=yields(run.chains, run.config),
        difficulty=difficulty(run.chains),
        rejection_counts=rejection_counts(run.chains),
        rejection_examples=rejection_examples(run.chains),
        costs=costs(run.chains, run.config),
    )
