"""Pictures of a run (``stepstones report``): how difficulty moved along each chain, the yield
of each mode with confidence intervals, pass rates against the paper's bins, what the teacher
got wrong, and what a viable problem cost (docs/design.md §2 and §4).

:func:`write_report` writes one self-contained HTML page and each figure as a PNG;
:func:`compute` and the functions it calls give the figures' data from a run's records, for
tests and other tools. Needs the ``report`` extra (matplotlib).
"""

from __future__ import annotations

from stepstones.report._compute import ReportData, compute
from stepstones.report._data import (
    CODE_CHARS,
    DIFFICULTY_BINS,
    REPLY_CHARS,
    ROLES,
    Difficulty,
    Point,
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
    trim,
    wilson,
    yields,
)
from stepstones.report._load import Run, load_run
from stepstones.report._page import figure_ids
from stepstones.report._write import PAGE, figures, write_report

__all__ = [
    "CODE_CHARS",
    "DIFFICULTY_BINS",
    "PAGE",
    "REPLY_CHARS",
    "ROLES",
    "Difficulty",
    "Point",
    "RejectionCount",
    "RejectionExample",
    "ReportData",
    "RoleCost",
    "Run",
    "Trajectory",
    "YieldRow",
    "compute",
    "costs",
    "difficulty",
    "example_chains",
    "figure_ids",
    "figures",
    "load_run",
    "rejection_counts",
    "rejection_examples",
    "trajectories",
    "trim",
    "wilson",
    "write_report",
    "yields",
]
