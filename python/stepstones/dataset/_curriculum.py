"""Materialising a schedule: one reproducibly sampled dataset per stage, and environment mixes.

OpenRLHF shuffles its prompt set every epoch, so sampling weights cannot vary inside one
dataset. Each stage therefore becomes its own dataset of ``steps × prompts_per_step`` prompts
whose bin counts are the stage weights (largest-remainder rounding), trained in order, each
launch starting from the previous stage's checkpoint.

A stage is a sample of *distinct* problems: a bin with at least as many problems as the stage
asks for gives each at most once. A bin with fewer is repeated in whole shuffled passes
(epochs); past ``max_repeats`` epochs the stage is refused rather than filled with a handful
of problems repeated thousands of times.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence

import msgspec

from stepstones.dataset._schedule import Schedule
from stepstones.errors import ExportError
from stepstones.records import Env, Problem

__all__ = ["MAX_REPEATS", "StageData", "materialise", "mix", "quotas"]

#: The most passes (epochs) one stage may make over a bin's problems unless repeats are allowed.
MAX_REPEATS = 4.0


class StageData(msgspec.Struct, frozen=True, kw_only=True):
    """The prompts of one stage, bin-tagged, in a seeded shuffled order."""

    index: int  # 0-based
    start_step: int
    until_step: int
    weights: dict[str, float]  # normalised
    counts: dict[str, int]  # realised prompts per bin
    distinct: dict[str, int]  # distinct problems per bin behind those prompts
    items: tuple[tuple[str, Problem], ...]  # (bin name, problem)


def quotas(weights: Mapping[str, float], n: int) -> dict[str, int]:
    """Split ``n`` by ``weights`` with largest-remainder rounding (exact total, ties by name)."""
    total = sum(weights.values())
    if total <= 0:
        raise ExportError(f"weights must sum to more than 0, got {dict(weights)}")
    raw = {k: n * w / total for k, w in weights.items()}
    out = {k: int(v) for k, v in raw.items()}
    left = n - sum(out.values())
    for k in sorted(raw, key=lambda k: (-(raw[k] - out[k]), k))[:left]:
        out[k] += 1
    return out


def _draw(pool: Sequence[Problem], k: int, rng: random.Random) -> list[Problem]:
    """``k`` problems from ``pool``: whole shuffled passes, so repeats are spread evenly."""
    taken: list[Problem] = []
    while len(taken) < k:
        order = list(pool)
        rng.shuffle(order)
        taken.extend(order[: k - len(taken)])
    return taken


def materialise(
    schedule: Schedule,
    pools: Mapping[str, Sequence[Problem]],
    *,
    prompts_per_step: int,
    seed: int = 0,
    renormalise: bool = False,
    max_repeats: float | None = MAX_REPEATS,
) -> list[StageData]:
    """The stage datasets of ``schedule`` drawn from ``pools`` (bin name -> problems).

    A bin with weight but no problems is an error unless ``renormalise``, which spreads its
    weight over the stage's other bins. A stage that would pass over a bin's problems more
    than ``max_repeats`` times is an error naming the shortfall (None: no limit). Every stage
    is checked before any is drawn.
    """
    if prompts_per_step < 1:
        raise ExportError(f"prompts_per_step must be >= 1, got {prompts_per_step}")
    plans = [
        _stage_counts(schedule, i, pools, prompts_per_step, renormalise)
        for i in range(len(schedule.stages))
    ]
    if max_repeats is not None:
        for i, (_, counts) in enumerate(plans):
            for b, n in counts.items():
                epochs = n / len(pools[b])
                if epochs > max_repeats:
                    raise ExportError(
                        f"stage {i + 1} of schedule {schedule.name!r} asks for {n:,} {b} prompts "
                        f"but only {len(pools[b]):,} {b} problems pass the filters: "
                        f"{epochs:,.1f} epochs over them, more than the limit of "
                        f"{max_repeats:g} (that needs {math.ceil(n / max_repeats):,} problems); "
                        "lower --total-steps or --prompts-per-step, generate more problems, or "
                        "pass --allow-repeats"
                    )
    rng = random.Random(seed)
    out: list[StageData] = []
    for i, (weights, counts) in enumerate(plans):
        st = schedule.stages[i]
        start = schedule.start_step(i)
        items = [(b, p) for b in sorted(counts) for p in _draw(pools[b], counts[b], rng)]
        rng.shuffle(items)
        out.append(
            StageData(
                index=i,
                start_step=start,
                until_step=st.until_step,
                weights=weights,
                counts=counts,
                distinct={b: min(n, len(pools[b])) for b, n in counts.items()},
                items=tuple(items),
            )
        )
    return out


def _stage_counts(
    schedule: Schedule,
    i: int,
    pools: Mapping[str, Sequence[Problem]],
    prompts_per_step: int,
    renormalise: bool,
) -> tuple[dict[str, float], dict[str, int]]:
    """Stage ``i``'s weights over the bins that have problems, and its prompts per bin."""
    st = schedule.stages[i]
    weights = schedule.normalised(i)
    empty = [b for b in weights if not pools.get(b)]
    if empty and not renormalise:
        raise ExportError(
            f"stage {i + 1} of schedule {schedule.name!r} gives weight to bins {empty} "
            "that have no problems: generate more problems, choose other bins, or pass "
            "renormalise (--renormalise) to spread their weight over the other bins"
        )
    weights = {b: w for b, w in weights.items() if b not in empty}
    if not weights:
        raise ExportError(f"stage {i + 1} of schedule {schedule.name!r} has no bin with problems")
    total = sum(weights.values())
    weights = {b: w / total for b, w in weights.items()}
    n = (st.until_step - schedule.start_step(i)) * prompts_per_step
    return weights, quotas(weights, n)


def mix(problems: Sequence[Problem], per_env: Mapping[Env, int], *, seed: int = 0) -> list[Problem]:
    """An environment mix such as 4 × 5K: ``per_env[env]`` distinct problems of each env.

    Asking for more problems of an environment than exist is an error naming the shortfall.
    """
    rng = random.Random(seed)
    by_env: dict[str, list[Problem]] = {}
    for p in problems:
        by_env.setdefault(p.env, []).append(p)
    out: list[Problem] = []
    for env, n in sorted(per_env.items()):
        have = by_env.get(env, [])
        if n > len(have):
            raise ExportError(
                f"mix asks for {n} {env} problems but only {len(have)} pass the filters: "
                "lower the count or generate more"
            )
        out.extend(rng.sample(have, n))
    rng.shuffle(out)
    return out
