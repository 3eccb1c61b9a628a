"""verl rows drawn from a live schedule, in the shape verl 0.9.1's ``RLHFDataset`` indexes.

``RLHFDataset.__getitem__`` starts with ``row_dict = self.dataframe[item]`` and
``__len__`` is ``len(self.dataframe)``; :class:`LiveFrame` stands in for that dataframe, so
verl's own item code runs unchanged on rows drawn from the live pool. Torch-free (the verl
class in :mod:`stepstones.online.verl` is the only part that imports verl).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from stepstones.dataset._export import PromptFn, default_prompt, verl_row
from stepstones.errors import ConfigError
from stepstones.online._schedule import LiveSchedule, base_from_labels
from stepstones.serve._labels import parse_label

__all__ = ["RUN_DIR_ENV", "LiveFrame"]

#: Where the run directory is named when the trainer config cannot carry it.
RUN_DIR_ENV = "STEPSTONES_RUN_DIR"


class LiveFrame:
    """``len()`` = the base dataset's rows (verl sizes an epoch by it); ``frame[i]`` = the
    schedule's next row (``i`` is ignored: the order is the schedule's, checkpointed through
    :meth:`state_dict`)."""

    def __init__(
        self,
        schedule: LiveSchedule,
        length: int,
        bins: Mapping[str, str | None] | None = None,
        prompt_for: PromptFn | None = None,
    ) -> None:
        if length < 1:
            raise ConfigError(f"a live frame needs a length >= 1, got {length}")
        self.schedule = schedule
        self.length = length
        self.bins = dict(bins or {})
        self.prompt_for = prompt_for or default_prompt

    @classmethod
    def from_rows(
        cls,
        run_dir: str | os.PathLike[str] | None,
        rows: Sequence[Mapping[str, Any]],
        **schedule: Any,
    ) -> LiveFrame:
        """A frame over verl export rows (their ``reward_model.ground_truth`` labels)."""
        run_dir = run_dir or os.environ.get(RUN_DIR_ENV)
        if not run_dir:
            raise ConfigError(
                f"the live dataset needs the run directory: set +data.stepstones_run_dir=DIR "
                f"(or ${RUN_DIR_ENV})"
            )
        labels = [r["reward_model"]["ground_truth"] for r in rows]
        base = base_from_labels(labels)
        bins: dict[str, str | None] = {}
        for label, row in zip(labels, rows, strict=True):
            bins.setdefault(parse_label(label).id, (row.get("extra_info") or {}).get("bin") or None)
        return cls(LiveSchedule(run_dir, base, **schedule), len(rows), bins)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, item: int) -> dict[str, Any]:
        problem = self.schedule.next()
        stone = self.schedule.is_stone(problem.id)
        return verl_row(
            "live" if stone else self.bins.get(problem.id),
            problem,
            self.prompt_for,
            index=self.schedule.draws - 1,
            split="train",
        )

    def refresh(self) -> int:
        return self.schedule.refresh()

    def state_dict(self) -> dict[str, Any]:
        return self.schedule.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.schedule.load_state_dict(state)
