"""Curriculum schedules as data: piecewise-constant bin weights over RL steps (docs/design.md §4).

A :class:`Schedule` is a list of stages; stage *i* runs until step ``until_step`` and samples
prompts from the bins with its ``weights``. The paper's presets are written for 40K steps and
are rescaled to a run's length with :meth:`Schedule.scaled`. Weights within a stage are
normalised, so ``.8/.15/.05`` and ``16/3/1`` mean the same.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from stepstones.errors import ConfigError

__all__ = ["PAPER_STEPS", "SCHEDULES", "Schedule", "Stage", "parse_schedule"]

#: The length of the paper's RL runs; the presets' stage boundaries are given on this scale.
PAPER_STEPS = 40_000


class Stage(msgspec.Struct, frozen=True):
    """Sample with ``weights`` (bin name -> weight) until step ``until_step`` (exclusive)."""

    until_step: int
    weights: dict[str, float]


class Schedule(msgspec.Struct, frozen=True):
    """Stages in step order, over bins of the bin set named by ``bins``."""

    name: str
    bins: str  # "chain", "broad" or "custom"
    stages: tuple[Stage, ...]

    def __post_init__(self) -> None:
        if not self.stages:
            raise ConfigError(f"schedule {self.name!r} has no stages: give at least one")
        previous = 0
        for i, st in enumerate(self.stages):
            if st.until_step <= previous:
                raise ConfigError(
                    f"schedule {self.name!r} stage {i + 1} ends at step {st.until_step}, which "
                    f"is not after the previous boundary {previous}: boundaries must increase"
                )
            previous = st.until_step
            if not st.weights or any(w < 0 for w in st.weights.values()):
                raise ConfigError(
                    f"schedule {self.name!r} stage {i + 1} needs non-negative weights, "
                    f"got {st.weights}"
                )
            if sum(st.weights.values()) <= 0:
                raise ConfigError(
                    f"schedule {self.name!r} stage {i + 1} has all-zero weights: give one > 0"
                )

    @property
    def total_steps(self) -> int:
        return self.stages[-1].until_step

    @property
    def bin_names(self) -> tuple[str, ...]:
        """Every bin named by any stage, in first-seen order."""
        seen: dict[str, None] = {}
        for st in self.stages:
            seen.update(dict.fromkeys(st.weights))
        return tuple(seen)

    def normalised(self, index: int) -> dict[str, float]:
        """Stage ``index``'s weights summing to 1 (zero weights dropped)."""
        w = self.stages[index].weights
        total = sum(w.values())
        return {k: v / total for k, v in w.items() if v > 0}

    def start_step(self, index: int) -> int:
        return 0 if index == 0 else self.stages[index - 1].until_step

    def weights_at(self, step: int) -> dict[str, float]:
        """The normalised weights in force at ``step`` (the last stage's past the end)."""
        for i, st in enumerate(self.stages):
            if step < st.until_step:
                return self.normalised(i)
        return self.normalised(len(self.stages) - 1)

    def scaled(self, total_steps: int) -> Schedule:
        """The same schedule stretched to ``total_steps``, every stage at least one step long."""
        if total_steps < len(self.stages):
            raise ConfigError(
                f"total_steps must be >= the number of stages ({len(self.stages)}) of "
                f"{self.name!r}, got {total_steps}"
            )
        stages: list[Stage] = []
        previous = 0
        n = len(self.stages)
        for i, st in enumerate(self.stages):
            until = round(st.until_step * total_steps / self.total_steps)
            # Keep one step for each stage still to come, and at least one for this one.
            until = max(previous + 1, min(until, total_steps - (n - 1 - i)))
            stages.append(Stage(until, dict(st.weights)))
            previous = until
        return Schedule(self.name, self.bins, tuple(stages))


def _preset(
    name: str, bins: str, rows: list[tuple[float, float, float, float]], names: str
) -> Schedule:
    keys = names.split("/")
    stages = tuple(Stage(round(k * 1000), dict(zip(keys, ws, strict=True))) for k, *ws in rows)
    return Schedule(name, bins, stages)


#: The paper's schedules (docs/design.md §4) on its 40K-step scale, plus uniform and medium-only.
#: Chain schedules use the stepping-stone bins; the others the broad bins. Medium-start
#: reverse's "easy" is the broad easy-medium bin, as in the paper.
SCHEDULES: dict[str, Schedule] = {
    "soft": _preset(
        "soft",
        "chain",
        [
            (7.5, 0.80, 0.15, 0.05),
            (17.5, 0.15, 0.80, 0.05),
            (30, 0.15, 0.40, 0.45),
            (40, 0.05, 0.15, 0.80),
        ],
        "easy/medium/hard",
    ),
    "hard_transition": _preset(
        "hard_transition",
        "chain",
        [(7.5, 0.90, 0.05, 0.05), (17.5, 0.05, 0.90, 0.05), (40, 0.05, 0.05, 0.90)],
        "easy/medium/hard",
    ),
    "classic": _preset(
        "classic",
        "broad",
        [(10, 1, 0, 0), (15, 0.75, 0.25, 0), (25, 0, 1, 0), (30, 0, 0.75, 0.25), (40, 0, 0, 1)],
        "easy/medium/hard",
    ),
    "reverse": _preset(
        "reverse",
        "broad",
        [(10, 0, 0, 1), (15, 0, 0.25, 0.75), (25, 0, 1, 0), (30, 0.25, 0.75, 0), (40, 1, 0, 0)],
        "easy/medium/hard",
    ),
    "medium_start_reverse": _preset(
        "medium_start_reverse",
        "broad",
        [(17.5, 0, 1, 0), (20, 0.25, 0.75, 0), (40, 1, 0, 0)],
        "easy_medium/medium/hard",
    ),
    "medium_only": Schedule("medium_only", "broad", (Stage(PAPER_STEPS, {"medium": 1.0}),)),
    "uniform": Schedule(
        "uniform",
        "broad",
        (Stage(PAPER_STEPS, {"easy": 1.0, "easy_medium": 1.0, "medium": 1.0, "hard": 1.0}),),
    ),
}

_schedule_decoder = msgspec.json.Decoder(Schedule)


def parse_schedule(spec: str, *, bins: str = "custom") -> Schedule:
    """A preset name, a JSON file (a :class:`Schedule`), or an inline spec.

    Inline: stages separated by ``;``, each ``UNTIL:bin=weight,bin=weight``, e.g.
    ``"1000:easy=.9,medium=.1;3000:medium=1"``. ``bins`` names the bin set inline specs use.
    """
    spec = spec.strip()
    if spec in SCHEDULES:
        return SCHEDULES[spec]
    if spec.endswith(".json"):
        try:
            return _schedule_decoder.decode(Path(spec).read_bytes())
        except OSError as exc:
            raise ConfigError(f"cannot read schedule file {spec!r}: {exc}") from exc
        except msgspec.DecodeError as exc:
            raise ConfigError(f"schedule file {spec!r} is not a valid schedule: {exc}") from exc
    stages: list[Stage] = []
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        until, sep, rest = part.partition(":")
        try:
            if not sep:
                raise ValueError(part)
            weights: dict[str, float] = {}
            for item in rest.split(","):
                k, sep2, v = item.partition("=")
                if not sep2 or not k.strip():
                    raise ValueError(item)
                weights[k.strip()] = float(v)
            stages.append(Stage(int(until), weights))
        except ValueError:
            raise ConfigError(
                f"bad schedule stage {part!r}: use a preset ({', '.join(SCHEDULES)}), a .json "
                "file, or 'UNTIL:bin=weight,...;UNTIL:...' such as '1000:easy=.9,medium=.1'"
            ) from None
    return Schedule("custom", bins, tuple(stages))
