"""From measured problems to trainer data: difficulty bins, curricula, environment mixes and
exports for OpenRLHF (JSONL), verl (Parquet) and TRL (JSONL).

Problems are read from a run's chain store (``<run>/chains.jsonl``) or a JSONL of Problem
records, binned by measured pass rate (docs/design.md §4), filtered for RL, and written with the
student prompt as chat messages and the Problem itself as the label the graders read back.
"""

from __future__ import annotations

from stepstones.dataset._bins import (
    BIN_SETS,
    BROAD_BINS,
    CHAIN_BINS,
    KEEP_HIGH,
    KEEP_LOW,
    Bin,
    BinSet,
    balance,
    keep_for_rl,
    parse_bins,
)
from stepstones.dataset._curriculum import StageData, materialise, mix, quotas
from stepstones.dataset._export import FORMATS, Format, datasource, label_of, rows, write
from stepstones.dataset._plan import LaunchOptions, StagePlan, launch_script, openrlhf_argv
from stepstones.dataset._read import iter_problems, read_problems
from stepstones.dataset._schedule import PAPER_STEPS, SCHEDULES, Schedule, Stage, parse_schedule

__all__ = [
    "BIN_SETS",
    "BROAD_BINS",
    "CHAIN_BINS",
    "FORMATS",
    "KEEP_HIGH",
    "KEEP_LOW",
    "PAPER_STEPS",
    "SCHEDULES",
    "Bin",
    "BinSet",
    "Format",
    "LaunchOptions",
    "Schedule",
    "Stage",
    "StageData",
    "StagePlan",
    "balance",
    "datasource",
    "iter_problems",
    "keep_for_rl",
    "label_of",
    "launch_script",
    "materialise",
    "mix",
    "openrlhf_argv",
    "parse_bins",
    "parse_schedule",
    "quotas",
    "read_problems",
    "rows",
    "write",
]
