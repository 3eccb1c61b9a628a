"""Which problem a trainer gets next: the base set plus the live pool, by a checkpointable rule.

Every trainer adapter (verl's dataset class, TRL's iterable dataset, OpenRLHF's next stage)
draws through one :class:`LiveSchedule`. Each draw takes, in this order:

1. **never starve**: the least recently drawn problem, if it has waited ``max_gap`` draws or
   more (``max_gap_factor`` × the number of problems), whatever its band: an old problem is
   seen again, so its live pass rate stays current;
2. **new stones first**: the oldest viable stone of the live pool not drawn yet;
3. **keep the band**: the least recently drawn problem whose live band is ``warming`` or
   ``in_band`` (problems the policy outgrew or cannot touch wait for rule 1, while their
   stones take their place);
4. otherwise the least recently drawn problem.

No randomness: the same base, pool, ledger and state give the same draws. The state (draw
count and each problem's last draw) is a small JSON-able dict for the trainer's checkpoint.
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from stepstones.errors import ConfigError
from stepstones.online._pool import PoolReader, Stone
from stepstones.records import Problem
from stepstones.serve._ledger_view import LedgerView, ledger_dir

__all__ = ["ACTIVE_BANDS", "LiveSchedule", "base_from_labels"]

#: Live bands a problem may be drawn in by rule 3.
ACTIVE_BANDS = frozenset({"warming", "in_band"})


class LiveSchedule:
    """Draws problems for a trainer from ``base`` and the live pool of ``run_dir``.

    window / harder_above / easier_at_or_below: how the ledger's windowed pass rate is banded
        (the online teacher's rule; keep them the same as ``stepstones online``'s).
    max_gap_factor: a problem waits at most this many passes over the whole set between draws.
    """

    def __init__(
        self,
        run_dir: str | os.PathLike[str],
        base: Iterable[Problem],
        *,
        window: int = 32,
        harder_above: float = 0.65,
        easier_at_or_below: float = 0.0,
        max_gap_factor: float = 4.0,
    ) -> None:
        if max_gap_factor < 1:
            raise ConfigError(f"max_gap_factor must be >= 1 passes, got {max_gap_factor}")
        self.run_dir = Path(run_dir)
        self.max_gap_factor = max_gap_factor
        self.problems: dict[str, Problem] = {}
        self.stones: dict[str, Stone] = {}
        self.draws = 0
        self._order: OrderedDict[str, None] = OrderedDict()  # front: least recently drawn
        self._last: dict[str, int] = {}  # id -> draw index of its last draw (or its arrival)
        self._drawn: set[str] = set()
        self._fresh: deque[str] = deque()  # viable stones not drawn yet, oldest first
        self._reader = PoolReader(run_dir)
        self._view = LedgerView(
            ledger_dir(run_dir),
            window=window,
            harder_above=harder_above,
            easier_at_or_below=easier_at_or_below,
        )
        for problem in base:
            self._add(problem)
        if not self.problems:
            raise ConfigError("a live schedule needs at least one base problem, got none")
        self.refresh()

    def _add(self, problem: Problem, *, stone: bool = False) -> None:
        if problem.id in self.problems:
            return
        self.problems[problem.id] = problem
        self._order[problem.id] = None
        self._last.setdefault(problem.id, self.draws)
        if stone and problem.id not in self._drawn:
            self._fresh.append(problem.id)

    def refresh(self) -> int:
        """Take in stones added to the pool and results added to the ledger since the last
        call; returns the number of new viable stones."""
        added = 0
        for stone in self._reader.refresh():
            self.stones[stone.id] = stone
            if stone.viable and stone.id not in self.problems:
                self._add(stone.problem, stone=True)
                added += 1
        self._view.refresh()
        return added

    @property
    def max_gap(self) -> int:
        return max(1, math.ceil(self.max_gap_factor * len(self.problems)))

    def band(self, problem_id: str) -> str:
        stats = self._view.stats(problem_id, with_problem=False)
        return "warming" if stats is None else stats.band

    def next(self) -> Problem:
        """The next problem (see the module docstring for the rule)."""
        front = next(iter(self._order))
        if self.draws - self._last[front] >= self.max_gap:
            return self._take(front)
        while self._fresh:
            candidate = self._fresh.popleft()
            if candidate not in self._drawn:
                return self._take(candidate)
        for candidate in self._order:
            if self.band(candidate) in ACTIVE_BANDS:
                return self._take(candidate)
        return self._take(front)

    def take(self, n: int) -> list[Problem]:
        """The next ``n`` problems."""
        return [self.next() for _ in range(n)]

    def _take(self, problem_id: str) -> Problem:
        self._order.move_to_end(problem_id)
        self._last[problem_id] = self.draws
        self._drawn.add(problem_id)
        self.draws += 1
        return self.problems[problem_id]

    def is_stone(self, problem_id: str) -> bool:
        return problem_id in self.stones

    def state_dict(self) -> dict[str, Any]:
        """What to checkpoint with the trainer: the draw count and each problem's last draw."""
        return {
            "draws": self.draws,
            "drawn": {k: self._last[k] for k in self._order if k in self._drawn},
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from a checkpointed :meth:`state_dict` (after :meth:`refresh`)."""
        try:
            draws = int(state["draws"])
            drawn = {str(k): int(v) for k, v in dict(state["drawn"]).items()}
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"not a live-schedule state: {exc!r}") from None
        self.refresh()
        self.draws = draws
        self._drawn = set(drawn)
        for problem_id in self.problems:
            self._last[problem_id] = drawn.get(
                problem_id, draws if problem_id in self.stones else 0
            )
        # Least recently drawn first; never-drawn ones keep their arrival order in front.
        ordered = sorted(self._order, key=lambda k: (k in drawn, self._last[k]))
        self._order = OrderedDict.fromkeys(ordered)
        self._fresh = deque(k for k in ordered if k in self.stones and k not in drawn)


def base_from_labels(labels: Sequence[Any]) -> list[Problem]:
    """Problems from exported labels (JSON text or dicts), in order, duplicates once."""
    from stepstones.serve._labels import parse_label  # noqa: PLC0415

    seen: dict[str, Problem] = {}
    for label in labels:
        problem = parse_label(label)
        seen.setdefault(problem.id, problem)
    return list(seen.values())
