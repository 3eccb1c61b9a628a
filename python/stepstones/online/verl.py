"""verl's way in: a dataset class verl loads by name, drawing from the live pool.

::

    python3 -m verl.trainer.main_ppo \\
        data.train_files=data/train.parquet \\
        data.custom_cls.path=pkg://stepstones.online.verl \\
        data.custom_cls.name=LiveRLHFDataset \\
        +data.stepstones_run_dir=runs/demo \\
        data.dataloader_num_workers=0 data.shuffle=False \\
        reward.custom_reward_function.path=pkg://stepstones.online.verl \\
        reward.custom_reward_function.name=compute_score ...   # STEPSTONES_REWARD_URL set

``compute_score`` grades through ``stepstones serve --ledger`` so the ledger sees the rollouts
(:mod:`stepstones.online._remote`).

What it relies on in verl 0.9.1 (pinned by tests/online/test_online_trainers.py against the
wheel's source): ``create_rl_dataset`` builds ``dataset_cls(data_files=, tokenizer=,
processor=, config=, max_samples=)``; ``get_dataset_class`` wants a ``torch.utils.data.Dataset``
subclass; ``RLHFDataset.__init__`` reads the files in ``_read_files_and_tokenize`` and
``__getitem__`` starts from ``self.dataframe[item]``; the trainer calls
``train_dataset.on_batch_end(batch=...)`` after every step; the StatefulDataLoader stores the
dataset's ``state_dict`` in each checkpoint's ``data.pt``. verl 0.9.1 has no pluggable
curriculum sampler (no ``data.sampler.class_path``), so the order lives in the dataset.

``data.dataloader_num_workers=0`` is required: with workers, each would draw from its own copy
of the schedule and the checkpointed state would not be the one that drew.
"""

from __future__ import annotations

from typing import Any

from torch.utils.data import get_worker_info  # type: ignore[import-not-found]
from verl.utils.dataset.rl_dataset import RLHFDataset  # type: ignore[import-not-found]

from stepstones.errors import ConfigError
from stepstones.online._frame import LiveFrame
from stepstones.online._remote import compute_score

__all__ = ["LiveRLHFDataset", "compute_score"]


class LiveRLHFDataset(RLHFDataset):  # type: ignore[misc]
    """verl's RLHFDataset whose rows come from the live schedule of ``data.stepstones_run_dir``
    (base problems: ``data.train_files``, exported with ``stepstones export --format verl``)."""

    def _read_files_and_tokenize(self) -> None:
        super()._read_files_and_tokenize()  # the base rows, filtered as verl filters them
        config = self.config
        self.dataframe = LiveFrame.from_rows(
            config.get("stepstones_run_dir"),
            list(self.dataframe),  # type: ignore[has-type]
            window=int(config.get("stepstones_window", 32)),
        )

    def __getitem__(self, item: int) -> Any:
        if get_worker_info() is not None:
            raise ConfigError(
                "LiveRLHFDataset draws in order from the live pool and must run in the trainer "
                "process: set data.dataloader_num_workers=0"
            )
        return super().__getitem__(item)

    def on_batch_end(self, batch: Any) -> None:
        """Called by verl after every training step: take in new stones and ledger results."""
        self.dataframe.refresh()

    def state_dict(self) -> dict[str, Any]:
        return self.dataframe.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.dataframe.load_state_dict(state)
