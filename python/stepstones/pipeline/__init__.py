"""The teacher-student pipeline: turns, chains, the runner and the run store (docs/design.md §2).

``chain = await generate_chain(seed)`` grows one chain of stepping stones; :class:`Runner` grows
many at once into a resumable :class:`RunStore`; :class:`Config` holds every setting with the
paper's values as defaults.
"""

from __future__ import annotations

from stepstones.pipeline._chain import MODES, chain_id, run_chain
from stepstones.pipeline._config import Config, SamplingConfig, load_config
from stepstones.pipeline._feed import Job, RunResult
from stepstones.pipeline._generate import (
    LOCAL_CONFIG,
    Backends,
    as_seed,
    generate_chain,
    open_backends,
)
from stepstones.pipeline._progression import is_complete, missing_bands, next_instruction
from stepstones.pipeline._runner import Runner
from stepstones.pipeline._stats import ModeStats, RunStats, compute_stats, histogram
from stepstones.pipeline._store import (
    Manifest,
    RejectionEntry,
    RunStore,
    read_chains,
    read_rejections,
)
from stepstones.pipeline._summary import build_summary, feedback
from stepstones.pipeline._turn import ProblemClaims, TurnContext, run_turn

__all__ = [
    "LOCAL_CONFIG",
    "MODES",
    "Backends",
    "Config",
    "Job",
    "Manifest",
    "ModeStats",
    "ProblemClaims",
    "RejectionEntry",
    "RunResult",
    "RunStats",
    "RunStore",
    "Runner",
    "SamplingConfig",
    "TurnContext",
    "as_seed",
    "build_summary",
    "chain_id",
    "compute_stats",
    "feedback",
    "generate_chain",
    "histogram",
    "is_complete",
    "load_config",
    "missing_bands",
    "next_instruction",
    "open_backends",
    "read_chains",
    "read_rejections",
    "run_chain",
    "run_turn",
]
