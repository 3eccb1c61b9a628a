"""TRL's way in: GRPOTrainer takes any ``datasets.Dataset`` or ``datasets.IterableDataset``
from user code (TRL 1.16 ``GRPOTrainer.__init__``), so the live pool reaches it as an endless
iterable dataset whose rows are drawn by a :class:`~stepstones.online.LiveSchedule`.

::

    from stepstones.online.trl import LiveTRL, RemoteReward
    live = LiveTRL("runs/demo", "data/train.trl.jsonl")        # base: a TRL export
    trainer = GRPOTrainer(
        model=..., reward_funcs=[RemoteReward("http://127.0.0.1:5000")],
        train_dataset=live.dataset(),
        args=GRPOConfig(max_steps=2000, shuffle_dataset=False, ignore_data_skip=True, ...),
        callbacks=[live.callback()],
    )

``RemoteReward`` grades through ``stepstones serve --ledger`` so the ledger sees every rollout.
An iterable dataset needs ``max_steps``; ``shuffle_dataset=False`` keeps the schedule's order
(TRL would otherwise shuffle the stream in a buffer). The schedule's state is saved into every
checkpoint folder (``stepstones_live.json``) by the callback and read back by
``LiveTRL(..., resume_from=CHECKPOINT)``; ``ignore_data_skip=True`` stops the Trainer from
also fast-forwarding the stream on resume.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from stepstones.dataset._export import PromptFn, default_prompt, trl_row
from stepstones.errors import ConfigError
from stepstones.online._remote import RemoteReward
from stepstones.online._schedule import LiveSchedule, base_from_labels
from stepstones.online._stage import read_rows
from stepstones.records import Problem

__all__ = ["STATE_FILE", "LiveTRL", "RemoteReward"]

#: The schedule's state inside a checkpoint folder.
STATE_FILE = "stepstones_live.json"

_LIVE: dict[int, LiveTRL] = {}
_ids = itertools.count()


def _generate(key: int) -> Iterator[dict[str, Any]]:
    # A top-level generator with a plain-int argument: `datasets` fingerprints gen_kwargs.
    yield from _LIVE[key].rows()


class LiveTRL:
    """The live pool as TRL rows (the columns of ``stepstones export --format trl``).

    base: the problems the run starts from: Problems, or the path of a TRL/OpenRLHF JSONL or
        verl Parquet export.
    refresh_every: rows between two reads of the pool and ledger.
    """

    def __init__(
        self,
        run_dir: str | os.PathLike[str],
        base: Sequence[Problem] | str | os.PathLike[str],
        *,
        window: int = 32,
        harder_above: float = 0.65,
        easier_at_or_below: float = 0.0,
        refresh_every: int = 64,
        prompt_for: PromptFn | None = None,
        resume_from: str | os.PathLike[str] | None = None,
    ) -> None:
        if refresh_every < 1:
            raise ConfigError(f"refresh_every must be >= 1 rows, got {refresh_every}")
        problems = (
            base_from_labels(
                [r.get("label") or r["reward_model"]["ground_truth"] for r in read_rows(base)]
            )
            if isinstance(base, str | os.PathLike)
            else list(base)
        )
        self.schedule = LiveSchedule(
            run_dir,
            problems,
            window=window,
            harder_above=harder_above,
            easier_at_or_below=easier_at_or_below,
        )
        self.refresh_every = refresh_every
        self.prompt_for = prompt_for or default_prompt
        if resume_from is not None:
            state = Path(resume_from) / STATE_FILE
            try:
                self.schedule.load_state_dict(json.loads(state.read_text()))
            except (OSError, ValueError) as exc:
                raise ConfigError(
                    f"cannot resume the live schedule from {str(state)!r}: {exc}"
                ) from exc
        self._key = next(_ids)
        _LIVE[self._key] = self

    def rows(self) -> Iterator[dict[str, Any]]:
        """Rows without end, in schedule order; stones are tagged ``bin="live"``."""
        while True:
            if self.schedule.draws % self.refresh_every == 0:
                self.schedule.refresh()
            problem = self.schedule.next()
            yield trl_row(
                "live" if self.schedule.is_stone(problem.id) else None, problem, self.prompt_for
            )

    def dataset(self) -> Any:
        """A ``datasets.IterableDataset`` over :meth:`rows` (needs the ``datasets`` package)."""
        try:
            import datasets  # type: ignore[import-untyped,unused-ignore]  # noqa: PLC0415
        except ImportError as exc:
            raise ConfigError(
                "LiveTRL.dataset() needs the datasets package (TRL installs it)"
            ) from exc
        return datasets.IterableDataset.from_generator(_generate, gen_kwargs={"key": self._key})

    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write the schedule's state into ``folder`` (a checkpoint folder)."""
        path = Path(folder) / STATE_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.schedule.state_dict()))
        tmp.replace(path)
        return path

    def callback(self) -> Any:
        """A ``transformers.TrainerCallback`` that saves the state into each checkpoint."""
        from transformers import TrainerCallback  # type: ignore[import-not-found,unused-ignore]  # noqa: PLC0415

        live = self

        class _SaveLiveSchedule(TrainerCallback):  # type: ignore[misc]
            def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
                live.save(Path(args.output_dir) / f"checkpoint-{state.global_step}")

        return _SaveLiveSchedule()
