"""What each figure of a report shows, computed from a run's chains by pure functions.

Nothing here draws: every figure of :mod:`._figures` is a picture of one of these records, so
the numbers can be tested against the records they came from and written out as JSON.

Definitions (the same as ``stepstones stats``): a *teacher call* is one turn, valid or not; a
*viable* problem is a measured one inside the run's RL keep-filter (``Config.is_viable``);
yield is viable problems per teacher call.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence

import msgspec

from stepstones.dataset import BIN_SETS
from stepstones.errors import ConfigError
from stepstones.pipeline import Config, histogram
from stepstones.records import Chain, Turn

__all__ = [
    "CODE_CHARS",
    "DIFFICULTY_BINS",
    "REPLY_CHARS",
    "ROLES",
    "Difficulty",
    "Point",
    "RejectionCount",
    "RejectionExample",
    "RoleCost",
    "Trajectory",
    "YieldRow",
    "costs",
    "difficulty",
    "example_chains",
    "rejection_counts",
    "rejection_examples",
    "trajectories",
    "trim",
    "wilson",
    "yields",
]

#: Pass-rate histograms of the difficulty figure have this many equal bins over [0, 1].
DIFFICULTY_BINS = 20
#: A teacher reply shown as a rejection's example is cut to this many characters.
REPLY_CHARS = 1200
#: A stone's code shown beside an example chain is cut to this many characters.
CODE_CHARS = 400
#: Who spends tokens or time on a turn: the two LLM roles and the sandbox (no tokens).
ROLES = ("teacher", "student", "sandbox")
_Z95 = 1.959963984540054  # the two-sided 95 % normal quantile


class Point(msgspec.Struct, frozen=True, kw_only=True):
    """One turn of a chain: a stone (a measured problem) or a rejection.

    kind: "stone", or the rejection's kind ("format", "duplicate", ...).
    pass_rate: the measured pass rate of a stone; None for a rejection.
    text: a stone's problem message, or the rejection's reason.
    code: a stone's reference code, trimmed to ``CODE_CHARS`` (deduction and abduction problems
        have no message: the code is the problem); "" for a rejection.
    """

    turn: int
    instruction: str
    kind: str
    pass_rate: float | None
    text: str
    code: str = ""


class Trajectory(msgspec.Struct, frozen=True, kw_only=True):
    """The turns of one chain, in order."""

    chain_id: str
    env: str
    mode: str
    seed: str  # where the seed came from: "path:start-end"
    points: tuple[Point, ...]

    @property
    def stones(self) -> int:
        return sum(1 for p in self.points if p.kind == "stone")


def _point(turn: Turn) -> Point:
    if turn.problem is not None and turn.problem.pass_rate is not None:
        return Point(
            turn=turn.index,
            instruction=turn.instruction,
            kind="stone",
            pass_rate=turn.problem.pass_rate,
            text=turn.problem.message,
            code=trim(turn.problem.code, CODE_CHARS),
        )
    kind: str
    if turn.rejection is not None:
        kind, text = turn.rejection.kind, turn.rejection.reason
    else:  # a valid problem the student was never measured on (not written by this version)
        kind, text = "unmeasured", "the problem was valid but not measured"
    return Point(
        turn=turn.index, instruction=turn.instruction, kind=kind, pass_rate=None, text=text
    )


def trajectories(chains: Iterable[Chain]) -> list[Trajectory]:
    """Every chain as a trajectory, in store order."""
    return [
        Trajectory(
            chain_id=c.id,
            env=c.env,
            mode=c.mode,
            seed=f"{c.seed.source}:{c.seed.start_line}-{c.seed.end_line}",
            points=tuple(_point(t) for t in c.turns),
        )
        for c in chains
    ]


def example_chains(trajs: Sequence[Trajectory], k: int = 4) -> list[Trajectory]:
    """Up to ``k`` chains worth drawing large: the most stones, then the most turns, one mode
    after another (round-robin over modes in name order) so each mode is shown; ties by id."""
    by_mode: dict[str, list[Trajectory]] = {}
    for t in sorted(trajs, key=lambda t: (-t.stones, -len(t.points), t.chain_id)):
        by_mode.setdefault(t.mode, []).append(t)
    picked: list[Trajectory] = []
    depth = 0
    while len(picked) < k and any(depth < len(v) for v in by_mode.values()):
        for mode in sorted(by_mode):
            if depth < len(by_mode[mode]) and len(picked) < k:
                picked.append(by_mode[mode][depth])
        depth += 1
    return picked


def wilson(successes: int, n: int, z: float = _Z95) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion (95 % by default).

    Unlike the normal approximation it stays inside [0, 1] and is not empty at 0 or n
    successes, which is where small runs live. ``n == 0`` gives the uninformative (0, 1).
    """
    if n < 0 or not 0 <= successes <= n:
        raise ConfigError(f"need 0 <= successes <= n, got {successes} of {n}")
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    # The interval holds p; clamp so rounding cannot put p a hair outside it.
    return max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half))


class YieldRow(msgspec.Struct, frozen=True, kw_only=True):
    """Viable problems per teacher call of one mode, at one turn index or over all turns.

    turn: the 0-based turn index, or None for all turns of the mode.
    low / high: the Wilson 95 % interval of ``rate``.
    """

    mode: str
    turn: int | None
    calls: int
    viable: int
    rate: float
    low: float
    high: float


def _yield_row(mode: str, turn: int | None, calls: int, viable: int) -> YieldRow:
    low, high = wilson(viable, calls)
    return YieldRow(
        mode=mode,
        turn=turn,
        calls=calls,
        viable=viable,
        rate=viable / calls if calls else 0.0,
        low=low,
        high=high,
    )


def yields(chains: Iterable[Chain], config: Config) -> list[YieldRow]:
    """Per mode (name order): one row per turn index, then one over all of the mode's turns."""
    cells: dict[str, dict[int, list[int]]] = {}
    for chain in chains:
        per_turn = cells.setdefault(chain.mode, {})
        for turn in chain.turns:
            cell = per_turn.setdefault(turn.index, [0, 0])
            cell[0] += 1
            cell[1] += turn.problem is not None and config.is_viable(turn.problem.pass_rate)
    rows: list[YieldRow] = []
    for mode in sorted(cells):
        per_turn = cells[mode]
        rows += [_yield_row(mode, i, c, v) for i, (c, v) in sorted(per_turn.items())]
        calls = sum(c for c, _ in per_turn.values())
        rows.append(_yield_row(mode, None, calls, sum(v for _, v in per_turn.values())))
    return rows


class Difficulty(msgspec.Struct, frozen=True, kw_only=True):
    """Measured pass rates of one environment.

    counts: a histogram of ``DIFFICULTY_BINS`` equal bins over [0, 1] (1.0 in the last).
    bins: per paper bin set (``dataset.BIN_SETS``): bin name -> problems in it.
    """

    env: str
    pass_rates: tuple[float, ...]  # sorted
    counts: tuple[int, ...]
    bins: dict[str, dict[str, int]]


def difficulty(chains: Iterable[Chain]) -> list[Difficulty]:
    """One histogram per environment with measured problems (name order)."""
    rates: dict[str, list[float]] = {}
    for chain in chains:
        for problem in chain.problems:
            if problem.pass_rate is not None:
                rates.setdefault(chain.env, []).append(problem.pass_rate)
    return [
        Difficulty(
            env=env,
            pass_rates=tuple(sorted(rates[env])),
            counts=tuple(histogram(rates[env], DIFFICULTY_BINS)),
            bins={
                name: {b: sum(1 for p in rates[env] if bins.assign(p) == b) for b in bins.names}
                for name, bins in BIN_SETS.items()
            },
        )
        for env in sorted(rates)
    ]


class RejectionCount(msgspec.Struct, frozen=True, kw_only=True):
    """Rejected turns of one kind in one environment."""

    kind: str
    env: str
    count: int


def rejection_counts(chains: Iterable[Chain]) -> list[RejectionCount]:
    """Counts by (kind, environment), most frequent kind first, then by name."""
    cells: Counter[tuple[str, str]] = Counter(
        (t.rejection.kind, c.env) for c in chains for t in c.turns if t.rejection is not None
    )
    totals: Counter[str] = Counter()
    for (kind, _), n in cells.items():
        totals[kind] += n
    return [
        RejectionCount(kind=kind, env=env, count=n)
        for (kind, env), n in sorted(cells.items(), key=lambda kv: (-totals[kv[0][0]], kv[0]))
    ]


class RejectionExample(msgspec.Struct, frozen=True, kw_only=True):
    """One rejected turn shown for its kind: the reason, and what the teacher wrote.

    reply: the teacher's reply, trimmed (:func:`trim`); "" when none was recorded (a failed
    request, or a run written before replies were kept).
    """

    kind: str
    count: int  # rejections of this kind in the run
    env: str
    chain_id: str
    turn: int
    reason: str
    reply: str


def trim(text: str, limit: int = REPLY_CHARS) -> str:
    """``text`` cut to ``limit`` characters with a note of how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n… ({len(text) - limit} more characters)"


def rejection_examples(chains: Iterable[Chain]) -> list[RejectionExample]:
    """One example per kind (the first in store order that kept its teacher reply, else the
    first), most frequent kind first."""
    first: dict[str, tuple[Chain, Turn]] = {}
    with_reply: dict[str, tuple[Chain, Turn]] = {}
    counts: Counter[str] = Counter()
    for chain in chains:
        for turn in chain.turns:
            if turn.rejection is None:
                continue
            kind = turn.rejection.kind
            counts[kind] += 1
            first.setdefault(kind, (chain, turn))
            if turn.teacher_reply:
                with_reply.setdefault(kind, (chain, turn))
    out = []
    for name, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        chain, turn = with_reply.get(name) or first[name]
        assert turn.rejection is not None
        out.append(
            RejectionExample(
                kind=name,
                count=n,
                env=chain.env,
                chain_id=chain.id,
                turn=turn.index,
                reason=turn.rejection.reason,
                reply=trim(turn.teacher_reply),
            )
        )
    return out


class RoleCost(msgspec.Struct, frozen=True, kw_only=True):
    """What one role spent on the chains of one mode ("all": every mode).

    wall_s: summed request latency (teacher, student) or sandbox wall time, in seconds; runs
        overlap, so this is work done, not the run's duration.
    per_viable_tokens / per_viable_s: totals divided by the mode's viable problems; None when
        the mode has none (the cost of a viable problem is then unbounded).
    """

    mode: str
    role: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    wall_s: float
    viable: int
    per_viable_tokens: float | None
    per_viable_s: float | None


def _role_costs(mode: str, chains: Sequence[Chain], config: Config) -> list[RoleCost]:
    viable = sum(1 for c in chains for p in c.problems if config.is_viable(p.pass_rate))
    turns = [t for c in chains for t in c.turns]
    out = []
    for role in ROLES:
        if role == "sandbox":
            requests, prompt, completion = 0, 0, 0
            wall = sum(t.sandbox_s for t in turns)
        else:
            usages = [t.teacher_usage if role == "teacher" else t.student_usage for t in turns]
            requests = sum(u.requests for u in usages)
            prompt = sum(u.prompt_tokens for u in usages)
            completion = sum(u.completion_tokens for u in usages)
            wall = sum(u.latency_s for u in usages)
        out.append(
            RoleCost(
                mode=mode,
                role=role,
                requests=requests,
                prompt_tokens=prompt,
                completion_tokens=completion,
                wall_s=wall,
                viable=viable,
                per_viable_tokens=(prompt + completion) / viable if viable else None,
                per_viable_s=wall / viable if viable else None,
            )
        )
    return out


def costs(chains: Iterable[Chain], config: Config) -> list[RoleCost]:
    """Per role, for each mode (name order) and then for all modes together ("all")."""
    all_chains = list(chains)
    modes = sorted({c.mode for c in all_chains})
    rows = [
        row for m in modes for row in _role_costs(m, [c for c in all_chains if c.mode == m], config)
    ]
    return rows + _role_costs("all", all_chains, config)
